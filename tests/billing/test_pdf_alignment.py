"""Amount columns of the PDFs line up: in the statement's account detail and the invoice's
lines, every amount of a column ends at the same x, and its decimal point too, whatever the
width of the labels beside it (Chinese labels, long and short references). Measured on the
glyphs WeasyPrint draws (``tests.billing.pdf_layout``), within half a point."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import translation

from billing.models import Statement
from billing.pdf import render_pdf
from billing.services.credit import credit_charge
from billing.services.invoices import InvoiceLineData
from billing.services.statements import statement_build
from tests import factories
from tests.billing import statement_data as data
from tests.billing.pdf_layout import Glyph, columns, line_text, pdf_lines, spans
from tests.billing.statement_data import shanghai
from tests.conftest import sign_in

AMOUNT = r"-?¥[\d,]+\.\d+"
DATE_FIRST = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
TOLERANCE = 0.5  # points


def amount_columns(rows: list[list[Glyph]]) -> tuple[list[list[float]], list[list[float]]]:
    """(right edges, decimal points) of the amounts of these rows, grouped into columns."""
    found = [span for row in rows for span in spans(row, AMOUNT)]
    right = columns([span.x1 for span in found])
    points = columns([span.x_of(".") for span in found])
    return right, points


def assert_aligned(rows: list[list[Glyph]], *, expected_columns: int) -> None:
    right, points = amount_columns(rows)
    described = "\n".join(line_text(row) for row in rows)
    assert len(right) == expected_columns, f"amount columns {right} in:\n{described}"
    for name, groups in (("right edges", right), ("decimal points", points)):
        for group in groups:
            assert max(group) - min(group) <= TOLERANCE, (
                f"{name} of one column spread over {max(group) - min(group):.2f} pt: "
                f"{[round(x, 2) for x in group]} in:\n{described}"
            )


def detail_rows(pdf: bytes) -> list[list[Glyph]]:
    """The account-detail rows: lines that start with a date and hold an amount."""
    return [
        line for line in pdf_lines(pdf) if DATE_FIRST.match(line_text(line)) and spans(line, AMOUNT)
    ]


# Labels and references of every width: Chinese and Latin, short and long, so that a layout
# that counts characters instead of measuring them shows.
MOVEMENTS = [
    ("发票", "INV-2025-000001", "¥1,000.00", "", "¥13,345.60"),
    ("贷项通知单", "CN-2025-000002", "", "¥111.11", "¥13,234.49"),
    ("付款", "银行转账 招商银行 0001", "", "¥8,888.88", "¥4,345.61"),
    ("Reversal", "R-1", "¥50.00", "", "¥4,395.61"),
    ("Invoice", "INV-2025-000003-北京分公司", "¥20,000.00", "", "¥24,395.61"),
]


def statement_context(rows: list[list[str]]) -> dict[str, object]:
    return {
        "statement": SimpleNamespace(
            number="ST-2025-10-000001-v1",
            period_start=datetime.date(2025, 10, 1),
            period_end=datetime.date(2025, 10, 31),
        ),
        "company": SimpleNamespace(legal_name="华东贸易有限公司", credit_code="91310000MA1FL0000X"),
        "seller": SimpleNamespace(
            legal_name="示例平台有限公司",
            credit_code="91310000MA1FL1111Y",
            bank_name="招商银行",
            bank_account="6214 0000 0000 0000",
        ),
        "summary": {"invoices": 2, "credit_notes": 1, "payments": 1},
        "opening": "¥12,345.60",
        "invoiced": "¥21,000.00",
        "credited": "¥111.11",
        "paid": "¥8,888.88",
        "closing": "¥24,395.61",
        "aging": [("Current", "¥24,395.61"), ("Over 90 days", "¥0.00")],
        "aging_total": "¥24,395.61",
        "cards": {},
        "detail_rows": rows,
        "issued_on": datetime.date(2025, 11, 1),
    }


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_statement_template_lines_up_the_detail_amounts(language: str) -> None:
    rows = [["2025-10-01", "期初余额", "", "", "", "¥12,345.60"]]
    rows += [
        [f"2025-10-{day:02d}", label, reference, debit, credit, balance]
        for day, (label, reference, debit, credit, balance) in enumerate(MOVEMENTS, start=2)
    ]
    rows.append(["2025-10-31", "期末余额", "", "", "", "¥24,395.61"])

    with translation.override(language):
        pdf = render_pdf("billing/statement_pdf.html", statement_context(rows))

    found = detail_rows(pdf)
    assert len(found) == len(rows)
    assert_aligned(found, expected_columns=3)


@pytest.mark.django_db
def test_an_issued_statement_lines_up_the_detail_amounts() -> None:
    """Through the statement service, in the company's language (Chinese labels of 2 to 5
    characters beside Latin ones)."""
    company = factories.company("华东贸易有限公司", language="zh-hans")
    data.invoice(company, total="12345.60", issued=shanghai(2025, 9, 2))
    data.post(company, kind="invoice_issued", amount="1000.00", at=shanghai(2025, 10, 2, 9))
    data.post(company, kind="credit_note", amount="-111.11", at=shanghai(2025, 10, 3, 9))
    data.post(
        company,
        kind="payment_allocated",
        amount="-8888.88",
        at=shanghai(2025, 10, 4, 9),
        reference="银行转账 招商银行 0001",
    )
    data.post(company, kind="payment_reversed", amount="50.00", at=shanghai(2025, 10, 5, 9))
    data.post(
        company,
        kind="invoice_issued",
        amount="20000.00",
        at=shanghai(2025, 10, 6, 9),
        reference="INV-2025-000003-北京分公司",
    )

    statement = statement_build(
        company=company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    with statement.files.get(format="pdf").file.open("rb") as handle:
        pdf = handle.read()

    found = detail_rows(pdf)
    assert len(found) == 7  # opening, five movements, closing
    assert_aligned(found, expected_columns=3)


@pytest.mark.django_db
@pytest.mark.usefixtures("english_and_fast_hashing")
def test_the_invoice_pdf_lines_up_face_value_unit_price_and_amount(client) -> None:
    company = factories.company("华东贸易有限公司")
    factories.credit_line(company, "1000000.00")
    sign_in(client, factories.member(company, "owner"), second_factor=True)
    lines = [
        ("礼品卡", "100.00", 1, "97.5000"),
        ("员工福利卡（记名） 面值 1000 元 北京分公司 春节福利", "1000.00", 11, "980.0000"),  # noqa: RUF001
        ("Holiday gift card", "50.00", 111, "49.0000"),
        ("节日礼品卡", "300.00", 8, "294.1100"),
    ]
    invoice = credit_charge(
        company=company,
        order_number="ORD-ALIGN-1",
        lines=[
            InvoiceLineData(
                description=description,
                face_value=Decimal(face),
                quantity=quantity,
                unit_price=Decimal(unit),
                amount=(Decimal(unit) * quantity).quantize(Decimal("0.01")),
            )
            for description, face, quantity, unit in lines
        ],
        actor=None,
    )

    response = client.get(reverse("billing:invoice_pdf", args=[invoice.number]))

    assert response.status_code == 200
    rows = [line for line in pdf_lines(response.content) if len(spans(line, AMOUNT)) == 3]
    assert len(rows) == len(lines)
    assert_aligned(rows, expected_columns=3)
