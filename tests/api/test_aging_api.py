"""GET /api/v1/aging: the key's company only, with invoices:read, as of any past day."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.payments import payment_record
from portal.models import ApiKey, Role
from tests.api.helpers import Api, buyer, key_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

AGING = "/api/v1/aging"


def owed(company, amount: str, *, days_late: int, order: str) -> Invoice:
    value = Decimal(amount)
    invoice = invoice_issue(
        company=company,
        order_number=order,
        lines=[InvoiceLineData("礼品卡", value, 1, value, value)],
        net_days=30,
        actor=None,
    )
    due = timezone.localdate() - datetime.timedelta(days=days_late)
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=due, issue_date=due - datetime.timedelta(days=30)
    )
    invoice.refresh_from_db()
    return invoice


def test_aging_of_the_key_company() -> None:
    acme, rival = buyer(), buyer()
    late = owed(acme.company, "1500.00", days_late=61, order="PO-1")
    owed(acme.company, "250.00", days_late=0, order="PO-2")
    owed(rival.company, "999.00", days_late=10, order="PO-R")

    response = acme.api("finance").get(AGING)

    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == timezone.localdate().isoformat()
    assert body["currency"] == "CNY"
    assert body["buckets"] == {
        "current": "250.00",
        "d1_30": "0.00",
        "d31_60": "0.00",
        "d61_90": "1500.00",
        "over_90": "0.00",
    }
    assert body["total"] == "1750.00"
    assert len(body["invoices"]) == 2  # the oldest due first
    assert body["invoices"][0] == {
        "number": late.number,
        "order_number": "PO-1",
        "issue_date": late.issue_date.isoformat(),
        "due_date": late.due_date.isoformat(),
        "days_past_due": 61,
        "bucket": "d61_90",
        "total": "1500.00",
        "balance_due": "1500.00",
    }


def test_aging_as_of_a_past_day_counts_later_payments_as_unpaid() -> None:
    acme = buyer()
    invoice = owed(acme.company, "800.00", days_late=5, order="PO-1")
    payment_record(
        bank_reference="BANK-API-1",
        payer_name=acme.company.legal_name,
        payer_account="6222",
        amount="800.00",
        received_on=timezone.localdate(),
        remittance=invoice.number,
        actor=None,
    )
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()

    then = acme.api("finance").get(AGING, as_of=yesterday).json()
    now = acme.api("finance").get(AGING).json()

    assert then["as_of"] == yesterday
    assert then["total"] == "800.00"
    assert now["total"] == "0.00"
    assert now["invoices"] == []


def test_bad_and_future_dates_are_refused_with_the_value() -> None:
    acme = buyer()
    bad = acme.api("finance").get(AGING, as_of="31/12/2025")
    assert bad.status_code == 400
    assert "“31/12/2025” is not a date; write it as YYYY-MM-DD" in str(bad.json())
    future = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    refused = acme.api("finance").get(AGING, as_of=future)
    assert refused.status_code == 400
    assert f"{future} is in the future" in str(refused.json())


def test_a_key_without_invoices_read_or_no_key_is_refused() -> None:
    acme = buyer()
    orders_only = key_for(acme.company, acme.people[Role.PURCHASER], [ApiKey.Scope.ORDERS_READ])
    response = Api(orders_only).get(AGING)
    assert response.status_code == 403
    assert "invoices:read" in response.json()["detail"]
    assert Api(None).get(AGING).status_code in (401, 403)


def test_aging_is_in_the_schema() -> None:
    acme = buyer()
    schema = Api(acme.keys["owner"]).client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/aging"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["as_of"]
    assert "200" in operation["responses"]
