"""Money reads with thousands separators wherever it is shown, in both languages: the approval
email, the invoice PDF, the operators' invoice list."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from billing.services.credit import credit_charge
from billing.services.invoices import InvoiceLineData
from cards.models import OrderStatus
from cards.services.notices import order_approvers_notify
from portal.models import User
from tests import factories
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

LANGUAGES = ["zh-hans", "en"]


@pytest.fixture
def company():
    company = factories.company("华东贸易有限公司", approval_threshold="10000.00")
    factories.credit_line(company, "1000000.00")
    return company


def test_the_approval_email_shows_the_total_with_separators(company) -> None:
    people = factories.team(company)
    order = factories.submitted(
        company,
        people["purchaser"],
        face_value="1000",
        quantity=25,
        registration=factories.registration(),
    )
    assert order.status == OrderStatus.PENDING_APPROVAL

    order_approvers_notify(order_id=order.pk)

    (message,) = mail.outbox
    # One email, Chinese then English: the total appears once in each.
    assert message.body.count("¥25,000.00") == 2
    assert "25000" not in message.body


def invoice_of(company, amount: str):
    value = Decimal(amount)
    line = InvoiceLineData(
        description="礼品卡", face_value=value, quantity=1, unit_price=value, amount=value
    )
    return credit_charge(company=company, order_number="ORD-1", lines=[line], actor=None)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_invoice_pdf_shows_amounts_with_separators(client: Client, company, language) -> None:
    invoice = invoice_of(company, "12345.60")
    sign_in(client, factories.member(company, "owner"), second_factor=True)

    response = client.get(
        reverse("billing:invoice_pdf", args=[invoice.number]), HTTP_ACCEPT_LANGUAGE=language
    )

    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "¥12,345.60" in text
    assert "12345.60" not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_operators_invoice_list_shows_totals_with_separators(
    client: Client, company, language
) -> None:
    invoice_of(company, "12345.60")
    operator = User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )
    sign_in(client, operator, second_factor=True)

    html = client.get("/ops/billing/invoice/", HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert "¥12,345.60" in html
    assert "12345.60" not in html
