"""The invoice PDF through the API: GET /api/v1/invoices/{number}/pdf, the key's company only,
invoices:read, with its SHA-256 in a header."""

from __future__ import annotations

import hashlib
import io

import pytest
from pypdf import PdfReader

from portal.models import ApiKey
from tests import factories
from tests.api.helpers import ORDERS, Api, buyer, key_for, line, order_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

INVOICES = "/api/v1/invoices"


@pytest.fixture
def product():
    return factories.product()


def funded_invoice(acme, product) -> str:
    created = acme.api("purchaser").post(
        ORDERS, order_body(line(product, quantity=5), submit=True), idempotency_key="pdf-1"
    )
    assert created.status_code == 201, created.json()
    return created.json()["invoice_number"]


def test_finance_downloads_the_invoice_pdf_with_its_checksum(product):
    acme = buyer()
    number = funded_invoice(acme, product)

    response = acme.api("finance").get(f"{INVOICES}/{number}/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    body = response.content
    assert body.startswith(b"%PDF")
    assert response["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert f'filename="{number}.pdf"' in response["Content-Disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert number in text


def test_another_companys_invoice_pdf_is_not_found_and_the_scope_is_needed(product):
    acme = buyer()
    theirs = funded_invoice(buyer(), product)
    missing = acme.api("finance").get(f"{INVOICES}/{theirs}/pdf")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
    assert missing.json()["code"] == "not_found"

    mine = funded_invoice(acme, product)
    key = key_for(acme.company, acme.people["finance"], scopes=[ApiKey.Scope.ORDERS_READ])
    refused = Api(key).get(f"{INVOICES}/{mine}/pdf")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
