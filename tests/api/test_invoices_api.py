"""Invoices through the API: list and detail of the key's company only, with invoices:read."""

from __future__ import annotations

import pytest

from billing.models import Invoice
from tests import factories
from tests.api.helpers import ORDERS, Api, buyer, key_for, line, order_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

INVOICES = "/api/v1/invoices"


@pytest.fixture
def product():
    return factories.product()


def test_finance_reads_the_invoice_of_a_funded_order(product):
    factories.pricing(factories.company(), "discount", "1.00")  # another company's terms
    acme = buyer()
    factories.pricing(acme.company, "discount", "2.50")
    created = acme.api("purchaser").post(
        ORDERS, order_body(line(product, quantity=5)), idempotency_key="k1"
    )
    number = created.json()["number"]
    funded = acme.api("purchaser").post(f"{ORDERS}/{number}/submit").json()
    invoice_number = funded["invoice_number"]

    listing = acme.api("finance").get(INVOICES)

    assert listing.status_code == 200
    assert [i["number"] for i in listing.json()["results"]] == [invoice_number]
    detail = acme.api("finance").get(f"{INVOICES}/{invoice_number}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["kind"] == "invoice"
    assert body["status"] == "open"
    assert body["order_number"] == number
    assert body["face_total"] == "500.00"
    assert body["total"] == "487.50"
    assert body["discount_total"] == "12.50"
    assert body["balance_due"] == "487.50"
    assert body["paid_amount"] == "0.00"
    assert body["lines"][0]["quantity"] == 5
    assert body["lines"][0]["amount"] == "487.50"
    assert body["tax_category"] == Invoice.TAX_CATEGORY


def test_invoice_filters_and_scope(product):
    acme = buyer(credit=None)
    acme.api("purchaser").post(
        ORDERS,
        order_body(line(product, quantity=5), payment_method="bank_transfer", submit=True),
        idempotency_key="k1",
    )
    api = acme.api("finance")
    proformas = api.get(INVOICES, kind="proforma").json()
    assert proformas["count"] == 1
    assert proformas["results"][0]["payment_reference"].startswith("EC")
    assert proformas["results"][0]["balance_due"] == "0.00"
    assert api.get(INVOICES, kind="invoice").json()["count"] == 0
    assert api.get(INVOICES, status="lost").status_code == 400
    no_scope = Api(key_for(acme.company, acme.people["finance"], ["orders:read"]))
    response = no_scope.get(INVOICES)
    assert response.status_code == 403
    assert "invoices:read" in response.json()["detail"]


def test_another_companys_invoice_is_not_found(product):
    acme, other = buyer(), buyer()
    number = (
        other.api("purchaser")
        .post(ORDERS, order_body(line(product, quantity=5), submit=True), idempotency_key="k")
        .json()["invoice_number"]
    )
    assert number
    assert acme.api("finance").get(f"{INVOICES}/{number}").status_code == 404
    assert acme.api("finance").get(INVOICES).json()["count"] == 0
