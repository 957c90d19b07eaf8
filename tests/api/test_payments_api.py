"""Payments through the API: the key's company only, invoices:read, with allocations."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.payments import allocation_reverse, payment_record
from portal.models import ApiKey
from tests.api.helpers import Api, buyer, key_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PAYMENTS = "/api/v1/payments"
TODAY = timezone.localdate()


def issue(company, amount: str, order: str = "PO1") -> Invoice:
    value = Decimal(amount)
    line = InvoiceLineData(
        description="礼品卡", face_value=value, quantity=1, unit_price=value, amount=value
    )
    return invoice_issue(company=company, order_number=order, lines=[line], net_days=30, actor=None)


def paid(company, invoice: Invoice, amount: str, reference: str, received_on=TODAY):
    payment, _ = payment_record(
        bank_reference=reference,
        payer_name=company.legal_name,
        payer_account="6222 0000 1234 5678",
        amount=amount,
        received_on=received_on,
        remittance=f"货款 {invoice.number}",
        actor=None,
    )
    return payment


def test_finance_sees_its_payments_and_how_they_were_allocated() -> None:
    acme = buyer()
    other = buyer()
    invoice = issue(acme.company, "800.00")
    payment = paid(acme.company, invoice, "1000.00", "B1")
    paid(other.company, issue(other.company, "5.00", "X"), "5.00", "OTHER")
    payment_record(  # not identified: nobody's yet
        bank_reference="UNKNOWN",
        payer_name="陌生人",
        payer_account="1",
        amount="9.00",
        received_on=TODAY,
        remittance="",
        actor=None,
    )

    listing = acme.api("finance").get(PAYMENTS)

    assert listing.status_code == 200
    results = listing.json()["results"]
    assert [p["bank_reference"] for p in results] == ["B1"]
    body = acme.api("finance").get(f"{PAYMENTS}/{payment.public_id}").json()
    assert body["amount"] == "1000.00"
    assert body["allocated_amount"] == "1000.00"
    assert body["unallocated"] == "0.00"
    assert body["status"] == "allocated"
    assert body["payer_account_last4"] == "5678"
    assert "6222" not in str(body)
    assert [(a["kind"], a["invoice_number"], a["amount"]) for a in body["allocations"]] == [
        ("invoice", invoice.number, "800.00"),
        ("to_credit", None, "200.00"),
    ]


def test_a_reversal_shows_as_a_negative_allocation_naming_the_original() -> None:
    acme = buyer()
    invoice = issue(acme.company, "100.00")
    payment = paid(acme.company, invoice, "100.00", "B1")
    original = payment.allocations.get()
    allocation_reverse(allocation=original, actor=None, reason="wrong invoice")
    body = acme.api("finance").get(f"{PAYMENTS}/{payment.public_id}").json()
    assert body["status"] == "unmatched"
    reversal = body["allocations"][1]
    assert (reversal["amount"], reversal["reverses"], reversal["method"]) == (
        "-100.00",
        str(original.public_id),
        "reversal",
    )


def test_filters_by_status_and_dates() -> None:
    acme = buyer()
    first = issue(acme.company, "100.00", "PO1")
    second = issue(acme.company, "300.00", "PO2")
    paid(acme.company, first, "100.00", "OLD", TODAY - datetime.timedelta(days=40))
    paid(acme.company, second, "50.00", "NEW")
    api = acme.api("finance")
    assert [p["bank_reference"] for p in api.get(PAYMENTS, status="allocated").json()["results"]]
    since = (TODAY - datetime.timedelta(days=7)).isoformat()
    recent = api.get(PAYMENTS, received_from=since).json()["results"]
    assert [p["bank_reference"] for p in recent] == ["NEW"]
    bad = api.get(PAYMENTS, status="lost")
    assert bad.status_code == 400
    assert "Unknown status “lost”" in str(bad.json())
    bad_date = api.get(PAYMENTS, received_to="31/01/2026")
    assert bad_date.status_code == 400
    assert "“31/01/2026” is not a date" in str(bad_date.json())


def test_another_companys_payment_is_not_found() -> None:
    acme = buyer()
    other = buyer()
    theirs = paid(other.company, issue(other.company, "5.00"), "5.00", "THEIRS")
    assert acme.api("finance").get(f"{PAYMENTS}/{theirs.public_id}").status_code == 404
    assert acme.api("finance").get(f"{PAYMENTS}/{uuid.uuid4()}").status_code == 404


def test_the_invoices_read_scope_is_needed() -> None:
    acme = buyer()
    key = key_for(acme.company, acme.people["finance"], scopes=[ApiKey.Scope.ORDERS_READ])
    assert Api(key).get(PAYMENTS).status_code == 403
    assert Api(None).get(PAYMENTS).status_code in (401, 403)
