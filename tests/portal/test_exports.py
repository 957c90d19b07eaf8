"""Spreadsheet exports: formula cells neutralised, CSV for Excel in Chinese, XLSX row by row."""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import openpyxl
import pytest

from portal.exports import CsvWriter, XlsxWriter, safe_cell, safe_row

HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "+1",
    "-1+2",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_that_would_start_a_formula_gets_a_leading_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["张三", "a=b", "1+1", "", "O'Brien", "'=already quoted", 5, -5, Decimal("-1.50"), None],
)
def test_other_values_are_left_alone(value):
    assert safe_cell(value) == value


def test_safe_row_neutralises_each_cell():
    assert safe_row(["=1", 2, "x"]) == ["'=1", 2, "x"]


def _csv(rows: list[list[Any]], **kwargs: Any) -> bytes:
    out = io.BytesIO()
    writer = CsvWriter(out, **kwargs)
    writer.writerows(rows)
    writer.close()
    assert not out.closed
    return out.getvalue()


def test_csv_is_utf8_with_a_bom_and_rfc_4180_quoting():
    data = _csv(
        [["name", "note"], ["张三", 'says "hi", twice\nthen leaves'], ["李四", Decimal("9.90")]]
    )

    assert data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n")
    text = data[3:].decode("utf-8")
    assert text.splitlines()[0] == '"name","note"'  # text quoted, numbers not
    assert text.splitlines()[-1] == '"李四",9.90'
    assert '"says ""hi"", twice\nthen leaves"' in text
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["name", "note"],
        ["张三", 'says "hi", twice\nthen leaves'],
        ["李四", "9.90"],
    ]


def test_csv_cells_that_would_start_a_formula_are_neutralised():
    data = _csv([HOSTILE])

    (row,) = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert row == ["'" + value for value in HOSTILE]


def test_csv_without_a_bom():
    assert _csv([["a"]], bom=False) == b'"a"\r\n'


def _xlsx(rows: list[list[Any]], header: list[str] | None = None, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    writer = XlsxWriter(out, kwargs.pop("title", "Codes"), header, **kwargs)
    writer.writerows(rows)
    writer.close()
    assert not out.closed
    return out.getvalue()


def _read(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def test_xlsx_opens_with_its_header_and_typed_cells():
    data = _xlsx(
        [
            ["8600000000000017", Decimal("100.00"), datetime.date(2028, 1, 31), 3, "张三", None],
            ["8600000000000025", 2.5, datetime.datetime(2028, 1, 31, 9, 30), True, "<&>", ""],
        ],
        ["Serial", "Face value", "Expires", "Line", "Recipient", "Empty"],
        widths=[18, 12],
    )

    sheet = _read(data).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["Serial", "Face value", "Expires", "Line", "Recipient", "Empty"]
    assert rows[1] == [
        "8600000000000017",
        100,
        datetime.datetime(2028, 1, 31),
        3,
        "张三",
        None,
    ]
    assert rows[2] == [
        "8600000000000025",
        2.5,
        datetime.datetime(2028, 1, 31, 9, 30),
        True,
        "<&>",
        None,
    ]
    assert sheet["A1"].font.b
    assert sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 12
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        for name in package.namelist():
            ElementTree.fromstring(package.read(name))  # every part is well-formed XML


def test_xlsx_never_holds_a_formula_and_neutralises_like_csv():
    data = _xlsx([HOSTILE])

    sheet = _read(data).active
    cells = list(next(sheet.iter_rows()))
    assert [cell.value for cell in cells] == ["'" + value for value in HOSTILE]
    assert {cell.data_type for cell in cells} == {"s"}


def test_xlsx_drops_characters_the_file_format_does_not_allow():
    data = _xlsx([["a\x00b\x1fc\td"]])

    assert _read(data).active["A1"].value == "abc\td"


def test_a_full_sheet_goes_on_in_a_new_one_with_the_header_again():
    data = _xlsx([[n] for n in range(1, 6)], ["n"], title="Codes: [all]", max_rows=3)

    workbook = _read(data)
    assert workbook.sheetnames == ["Codes all", "Codes all 2", "Codes all 3"]
    assert [[c for (c,) in ws.iter_rows(values_only=True)] for ws in workbook.worksheets] == [
        ["n", 1, 2],
        ["n", 3, 4],
        ["n", 5],
    ]


def test_an_empty_workbook_still_has_its_sheet_and_header():
    workbook = _read(_xlsx([], ["Serial"]))

    assert [list(r) for r in workbook.active.iter_rows(values_only=True)] == [["Serial"]]


def test_xlsx_with_a_fixed_date_time_is_the_same_bytes_each_time():
    def write() -> bytes:
        buffer = io.BytesIO()
        writer = XlsxWriter(buffer, "Report", ["a", "b"], date_time=(1980, 1, 1, 0, 0, 0))
        writer.writerows([["x", Decimal("1.50")], [datetime.date(2026, 7, 1), 2]])
        writer.close()
        return buffer.getvalue()

    first = write()
    assert write() == first
    assert {info.date_time for info in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {
        (1980, 1, 1, 0, 0, 0)
    }
    sheet = openpyxl.load_workbook(io.BytesIO(first)).worksheets[0]
    assert [cell.value for cell in sheet[2]] == ["x", 1.5]
