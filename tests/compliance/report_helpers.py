"""Books to report on, built through the services: orders funded on credit and issued, cards
spent, expired, reactivated, and breakage decided (tests/cards/expiry/helpers.py)."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import io
import subprocess
from decimal import Decimal
from typing import Any

import openpyxl

from compliance.content import Period, ReportContent
from compliance.periods import month, quarter_of
from portal import days
from tests.cards.expiry.helpers import (  # noqa: F401  (re-exported for the tests)
    CARD_LIABILITY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    fresh,
    issued,
    line,
    merchant,
    owed,
    spend,
)


def this_quarter() -> Period:
    return quarter_of(days.today())


def next_quarter() -> Period:
    """The quarter whose deposit is based on the balance at the end of this one."""
    return quarter_of(this_quarter().end + datetime.timedelta(days=1))


def this_month() -> Period:
    today = days.today()
    return month(today.year, today.month)


def after(period: Period) -> datetime.datetime:
    """An instant once the period is over (noon of the next day)."""
    return days.day_start(period.end + datetime.timedelta(days=1)) + datetime.timedelta(hours=12)


def figures(content: ReportContent) -> dict[str, Any]:
    return {figure.key: figure.value for figure in content.figures}


def table(content: ReportContent, key: str) -> list[list[Any]]:
    return [list(row) for row in next(t for t in content.tables if t.key == key).rows]


def xlsx_rows(data: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    sheet = book.worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def same_value(read: Any, expected: Any) -> bool:
    """A cell read back from the workbook against the content's value."""
    if isinstance(expected, Decimal):
        return read is not None and Decimal(str(read)) == expected
    if isinstance(expected, datetime.date):
        return read is not None and read.date() == expected
    if expected in ("", None):
        return read in ("", None)
    return str(read) == str(expected)


def pdf_text(data: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
