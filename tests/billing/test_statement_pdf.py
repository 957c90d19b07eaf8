"""The statement PDF, read back with pypdf: both parties (the company's name in Chinese), the
period, the balances as formatted, the activity, aging and card summary, page numbers."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
import io

import pytest
from pypdf import PdfReader

from billing.models import Statement
from billing.services.statements import statement_build
from portal.models import Role
from tests import factories
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

BUYER = "华东贸易有限公司"


def pdf_text(statement: Statement) -> tuple[str, int]:
    record = statement.files.get(format="pdf")
    with record.file.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def test_the_pdf_shows_both_parties_balances_and_page_numbers(settings) -> None:
    company = factories.company(BUYER)
    buyer = factories.member(company, Role.PURCHASER)
    data.invoice(company, total="12345.60", issued=shanghai(2025, 9, 2))
    for day in range(1, 29):
        data.invoice(company, total="1000.00", issued=shanghai(2025, 10, day, 10))
        data.post(
            company, kind="payment_allocated", amount="-500.00", at=shanghai(2025, 10, day, 15)
        )
    data.cards(company, buyer, count=40, at=shanghai(2025, 10, 9))

    statement = statement_build(
        company=company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    text, pages = pdf_text(statement)

    assert BUYER in text
    assert company.credit_code in text
    assert settings.PLATFORM_LEGAL_NAME in text
    assert "Statement of account" in text
    assert statement.number in text
    assert "2025-10-01" in text
    assert "2025-10-31" in text
    assert "Opening balance" in text
    assert "¥12,345.60" in text
    assert "Closing balance" in text
    assert "¥26,345.60" in text
    assert "¥28,000.00" in text
    assert "¥14,000.00" in text
    assert "40 cards issued" in text
    assert "¥4,000.00" in text
    assert "Over 90 days" in text
    assert 2 <= pages <= 4
    assert f"Page 1 of {pages}" in text
    assert f"Page {pages} of {pages}" in text
    # No card rows in the PDF: they are in the CSV/XLSX.
    assert "0000000010" not in text


@pytest.mark.parametrize(
    ("language", "active", "expected", "absent"),
    [
        ("en", "zh-hans", "Statement of account", "对账单"),
        ("zh-hans", "en", "对账单", "Statement of account"),
    ],
)
def test_the_pdf_is_in_the_companys_language_whoever_asks(
    language: str, active: str, expected: str, absent: str
) -> None:
    """Issue 12, defect 4: a document sent to a company is in the company's language, not in
    the language of whoever (or whichever worker) built it."""
    from django.utils import translation

    company = factories.company(BUYER, language=language)
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))

    with translation.override(active):
        statement = statement_build(
            company=company,
            period_start=datetime.date(2025, 10, 1),
            period_end=datetime.date(2025, 10, 31),
            trigger=Statement.Trigger.MONTHLY,
        )
    text, _pages = pdf_text(statement)

    assert expected in text
    assert absent not in text


def test_the_pdf_draws_the_period_as_bars_with_the_summarys_figures() -> None:
    company = factories.company(BUYER)
    data.invoice(company, total="3000.00", issued=shanghai(2025, 10, 3))
    data.post(company, kind="payment_allocated", amount="-1250.00", at=shanghai(2025, 10, 20))

    statement = statement_build(
        company=company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    text, _pages = pdf_text(statement)

    # The chart's caption, and its bars' labels and values beside the summary's own.
    assert "Invoiced, credited and paid in the period" in text
    assert text.count("Invoiced") >= 2
    assert text.count("¥3,000.00") >= 2
    assert text.count("¥1,250.00") >= 2


def test_a_period_without_movements_has_no_chart() -> None:
    company = factories.company(BUYER)

    statement = statement_build(
        company=company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    text, _pages = pdf_text(statement)

    assert "Statement of account" in text
    assert "Invoiced, credited and paid in the period" not in text
