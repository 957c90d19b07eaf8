"""A statement lists the card spend of its period: what the company's cards redeemed and were
refunded, with counts, in the PDF's card section and the CSV/XLSX summary, and month by month
(Asia/Shanghai months) for a statement that covers several."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import codecs
import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from pypdf import PdfReader

from billing.models import Statement
from billing.services.statements import statement_build
from cards.models import Card
from portal.models import Company, Role
from tests import factories
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai
from tests.cards import spend_data as spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

OCT = (datetime.date(2025, 10, 1), datetime.date(2025, 10, 31))
OCT_NOV = (datetime.date(2025, 10, 1), datetime.date(2025, 11, 30))


def build(company: Company, period: tuple[datetime.date, datetime.date]) -> Statement:
    return statement_build(
        company=company,
        period_start=period[0],
        period_end=period[1],
        trigger=Statement.Trigger.ON_DEMAND,
    )


def file_bytes(statement: Statement, fmt: str) -> bytes:
    with statement.files.get(format=fmt).file.open("rb") as handle:
        return handle.read()


def csv_rows(statement: Statement) -> list[list[str]]:
    raw = file_bytes(statement, "csv")
    assert raw.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))


def pdf_text(statement: Statement) -> str:
    reader = PdfReader(io.BytesIO(file_bytes(statement, "pdf")))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def company() -> Company:
    """Four cards of ¥500 issued in September 2025, spent in October and November (Shanghai
    time), and another company's card spent in October."""
    company = factories.company("华东贸易有限公司")
    buyer = factories.member(company, Role.PURCHASER)
    order = data.cards(company, buyer, count=4, at=shanghai(2025, 9, 5), face_value="500")
    one, two, three, four = Card.objects.filter(batch__order=order).order_by("serial")
    shop = spend.merchant()
    lunch = spend.redeem(one, "120.50", shop, at=shanghai(2025, 10, 1, 0, 10))
    spend.redeem(two, "79.50", shop, at=shanghai(2025, 10, 18, 12))
    spend.refund(lunch, "20.50", at=shanghai(2025, 10, 20, 9))
    # 23:30 on 31 October in Shanghai is 15:30 UTC: still October.
    spend.redeem(three, "300.00", shop, at=shanghai(2025, 10, 31, 23, 30))
    # 00:30 on 1 November in Shanghai is still 31 October in UTC: November.
    spend.redeem(four, "40.00", shop, at=shanghai(2025, 11, 1, 0, 30))
    returned = spend.redeem(four, "60.00", shop, at=shanghai(2025, 11, 2))
    spend.refund(returned, "60.00", at=shanghai(2025, 11, 3))
    other = factories.company()
    stranger = factories.member(other, Role.PURCHASER)
    elsewhere = data.cards(other, stranger, count=1, at=shanghai(2025, 9, 5), face_value="500")
    spend.redeem(elsewhere.batches.get().cards.get(), "99.00", shop, at=shanghai(2025, 10, 9))
    return company


def test_the_summary_counts_redemptions_and_refunds_of_the_period_by_shanghai_month(
    company: Company,
) -> None:
    cards = build(company, OCT).summary["cards"]

    assert (cards["redeemed_count"], cards["redeemed_value"]) == (3, "500.00")
    assert (cards["refunded_count"], cards["refunded_value"]) == (1, "20.50")
    assert cards["spend_by_month"] == [
        {
            "month": "2025-10",
            "redeemed_count": 3,
            "redeemed_value": "500.00",
            "refunded_count": 1,
            "refunded_value": "20.50",
        }
    ]
    assert cards["outstanding_value"] == "1520.50"  # 4 x 500 - 500 + 20.50


def test_a_statement_of_two_months_lists_each_month(company: Company) -> None:
    cards = build(company, OCT_NOV).summary["cards"]

    assert [
        (m["month"], m["redeemed_count"], m["redeemed_value"], m["refunded_value"])
        for m in cards["spend_by_month"]
    ] == [("2025-10", 3, "500.00", "20.50"), ("2025-11", 2, "100.00", "60.00")]
    assert (cards["redeemed_value"], cards["refunded_value"]) == ("600.00", "80.50")


def test_the_csv_and_xlsx_list_redeemed_and_refunded(company: Company) -> None:
    statement = build(company, OCT_NOV)

    rows = csv_rows(statement)
    assert ["Redeemed", "5", "600.00"] in rows
    assert ["Refunded", "2", "80.50"] in rows
    header = rows.index(["Card spend by month", "Redemptions", "Redeemed", "Refunds", "Refunded"])
    assert rows[header + 1 : header + 3] == [
        ["2025-10", "3", "500.00", "1", "20.50"],
        ["2025-11", "2", "100.00", "1", "60.00"],
    ]
    book = openpyxl.load_workbook(io.BytesIO(file_bytes(statement, "xlsx")), read_only=True)
    summary = {row[0]: row[1:] for row in book["Statement"].iter_rows(values_only=True) if row}
    assert summary["Refunded"][:2] == (2, Decimal("80.50"))
    assert summary["2025-11"][:4] == (2, 100, 1, 60)


def test_the_pdf_lists_redeemed_and_refunded_in_the_card_section(company: Company) -> None:
    text = pdf_text(build(company, OCT_NOV))

    assert "Redeemed (5)" in text
    assert "Refunded (2)" in text
    assert "¥600.00" in text
    assert "¥80.50" in text
    assert "Card spend by month" in text
    assert "2025-10" in text
    assert "2025-11" in text
    assert "¥99.00" not in text  # another company's spend


def test_a_period_without_spend_has_no_monthly_table(company: Company) -> None:
    statement = build(company, (datetime.date(2025, 9, 1), datetime.date(2025, 9, 30)))

    assert statement.summary["cards"]["spend_by_month"] == []
    assert ["Refunded", "0", "0.00"] in csv_rows(statement)
    assert "Card spend by month" not in pdf_text(statement)
