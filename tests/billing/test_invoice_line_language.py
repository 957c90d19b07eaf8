"""Invoice lines are stored as a code and facts and read in the reader's language (issue 12,
defect 4): an order placed by a Chinese-speaking purchaser used to put the Chinese text
("面值", face value) on the invoice that an English reader saw, in the page, the API and the
PDF."""

from __future__ import annotations

import html
import importlib
import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from django.utils import translation
from pypdf import PdfReader

from billing.models import Invoice, InvoiceLine
from billing.services.credit import credit_charge
from billing.services.invoices import InvoiceLineData, invoice_void
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_submit
from portal.models import Role
from tests import factories
from tests.api.helpers import Api, key_for
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

ENGLISH = "Gift card, face value ¥100.00"
CHINESE = "礼品卡\uff0c面值 ¥100.00"


@pytest.fixture
def placed_in_chinese():
    """A credit order placed and submitted by a purchaser whose language is Chinese."""
    company = factories.company("华东贸易有限公司", approval_threshold="1000000.00")
    factories.credit_line(company, "1000000.00")
    people = factories.team(company)
    card = factories.product()  # 礼品卡 / Gift card
    with translation.override("zh-hans"):
        order = order_create(
            company=company,
            actor=people[Role.PURCHASER],
            lines=[LineInput(product=str(card.public_id), face_value="100", quantity=3)],
        )
        order = order_submit(order=order, actor=people[Role.PURCHASER])
    invoice = Invoice.objects.get(order_number=order.number, kind=Invoice.Kind.INVOICE)
    return company, people, invoice


def _page_text(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _reader(people, language: str) -> Client:
    client = Client(headers={"accept-language": language})
    sign_in(client, people[Role.FINANCE], second_factor=True)
    return client


def test_an_english_reader_reads_the_lines_in_english_page_api_and_pdf(placed_in_chinese):
    company, people, invoice = placed_in_chinese
    english = _reader(people, "en")

    page = _page_text(english.get(f"/invoices/{invoice.number}/"))
    assert ENGLISH in page
    assert "面值" not in page

    api = Api(key_for(company, people[Role.FINANCE]), language="en")
    body = api.get(f"/api/v1/invoices/{invoice.number}").json()
    assert body["lines"][0]["description"] == ENGLISH
    assert body["lines"][0]["description_code"] == "card_sale"
    assert body["lines"][0]["description_params"]["face_value"] == "100.00"

    pdf = english.get(f"/invoices/{invoice.number}/pdf/")
    assert pdf.status_code == 200
    text = _pdf_text(pdf.content)
    assert "face value" in text
    assert "面值" not in text


def test_a_chinese_reader_reads_the_same_lines_in_chinese(placed_in_chinese):
    _company, people, invoice = placed_in_chinese

    page = _page_text(_reader(people, "zh-hans").get(f"/invoices/{invoice.number}/"))

    assert CHINESE in page


def test_the_stored_facts_carry_to_the_credit_note(placed_in_chinese):
    _company, people, invoice = placed_in_chinese
    note = invoice_void(invoice=invoice, reason="cancelled", actor=people[Role.OWNER])
    assert note is not None
    line = note.lines.get()
    assert (line.description_code, line.description_params) == (
        "card_sale",
        {"product": "礼品卡", "product_en": "Gift card", "face_value": "100.00"},
    )
    with translation.override("en"):
        assert line.text == ENGLISH


def test_free_text_lines_show_as_written():
    company = factories.company()
    factories.credit_line(company, "1000.00")
    line = InvoiceLineData("Service fee", Decimal("10.00"), 1, Decimal("10"), Decimal("10.00"))

    invoice = credit_charge(company=company, order_number="ORD-X", lines=[line], actor=None)

    assert invoice.lines.get().text == "Service fee"


def test_the_data_migration_reads_the_facts_back_out_of_old_text():
    migration = importlib.import_module("billing.migrations.0007_invoice_line_codes")
    company = factories.company()
    factories.credit_line(company, "100000.00")
    old = [
        InvoiceLineData(CHINESE, Decimal("100.00"), 1, Decimal("100"), Decimal("100.00")),
        InvoiceLineData(
            "E-card, face value ¥1,000.00", Decimal("1000.00"), 1, Decimal("1000"), Decimal("1000")
        ),
        InvoiceLineData("Something else", Decimal("5.00"), 1, Decimal("5"), Decimal("5.00")),
    ]
    invoice = credit_charge(company=company, order_number="ORD-OLD", lines=old, actor=None)

    migration.codes_forward(apps, None)

    lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("position"))
    # The old text is kept, readable as it was; the facts now render in the reader's language.
    assert [line.description for line in lines] == [item.description for item in old]
    with translation.override("en"):
        assert [line.text for line in lines] == [
            "礼品卡, face value ¥100.00",
            "E-card, face value ¥1,000.00",
            "Something else",
        ]
    with translation.override("zh-hans"):
        assert lines[1].text == "E-card\uff0c面值 ¥1,000.00"
