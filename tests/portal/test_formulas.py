"""One definition of formula neutralisation and of CSV identifiers (``portal.formulas``): the
Python functions and the SQL built from the same definition answer the same for the same value,
on PostgreSQL (the statement's COPY) and on SQLite."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connection

from portal.formulas import (
    FORMULA_PREFIXES,
    csv_text,
    csv_text_sql,
    safe_cell,
    safe_cell_sql,
)

TRICKY = [
    "=1+1",
    "+86 138 0013 8000",
    "-3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",
    "'leading apostrophe",
    "normal text",
    "张三",
    "a=b",
    "",
    "8600000000000015",
    "00123",
    "12 34",
    "1.50",
    "١٢٣",  # Arabic-Indic digits: not what a spreadsheet takes for a number
]

EXPECTED_SAFE = {
    "=1+1": "'=1+1",
    "+86 138 0013 8000": "'+86 138 0013 8000",
    "-3": "'-3",
    "@SUM(A1:A2)": "'@SUM(A1:A2)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
}


def _postgresql(sql: str, value: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql} FROM (SELECT %s::text AS v) AS t", [value])
        (result,) = cursor.fetchone()
    return str(result)


def _sqlite(sql: str, value: str) -> str:
    with sqlite3.connect(":memory:") as db:
        (result,) = db.execute(f"SELECT {sql} FROM (SELECT ? AS v) AS t", [value]).fetchone()
    return str(result)


def test_the_prefixes_are_owasps() -> None:
    assert FORMULA_PREFIXES == ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("value", TRICKY)
def test_python_neutralises_as_expected(value: str) -> None:
    assert safe_cell(value) == EXPECTED_SAFE.get(value, value)


@pytest.mark.django_db
@pytest.mark.parametrize("value", TRICKY)
def test_sql_neutralises_as_python_does_on_postgresql_and_sqlite(value: str) -> None:
    assert connection.vendor == "postgresql"
    expected = safe_cell(value)

    assert _postgresql(safe_cell_sql("t.v"), value) == expected
    assert _sqlite(safe_cell_sql("t.v", vendor="sqlite"), value) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("value", TRICKY)
def test_sql_marks_csv_identifiers_as_python_does(value: str) -> None:
    expected = csv_text(safe_cell(value))
    assert expected.endswith("\t") == (value.isascii() and value.isdigit())

    assert _postgresql(csv_text_sql(safe_cell_sql("t.v")), value) == expected
    sqlite_sql = csv_text_sql(safe_cell_sql("t.v", vendor="sqlite"), vendor="sqlite")
    assert _sqlite(sqlite_sql, value) == expected


def test_other_values_are_left_alone() -> None:
    for value in (5, None, 1.5):
        assert safe_cell(value) == value
        assert csv_text(value) == value
