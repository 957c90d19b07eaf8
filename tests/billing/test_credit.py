"""Credit terms: what is available, holds, the past-due stop, suspension, and operators'
changes to a line (validated and audited)."""

# Optional relations (order.invoice, a credit position...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.audit import BillingAction
from billing.models import CreditLine, CreditReservation, Invoice
from billing.services.credit import (
    CreditRefused,
    credit_charge,
    credit_check,
    credit_line_set,
    credit_position,
    credit_release,
    credit_reserve,
)
from billing.services.invoices import InvoiceLineData
from portal.models import AuditEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company():
    company = factories.company()
    factories.credit_line(company, "100000.00", net_days=30, grace_days=5)
    return company


def lines(amount: str) -> list[InvoiceLineData]:
    value = Decimal(amount)
    return [
        InvoiceLineData(
            description="礼品卡, face value ¥100.00",
            face_value=Decimal("100.00"),
            quantity=int(value / 100),
            unit_price=Decimal("100.0000"),
            amount=value,
        )
    ]


def charge(company, amount: str, number: str = "") -> Invoice:
    return credit_charge(
        company=company,
        order_number=number or f"PO{Invoice.objects.count() + 1:04d}",
        lines=lines(amount),
        actor=None,
    )


def refusal(company, amount: str) -> CreditRefused:
    with pytest.raises(CreditRefused) as exc:
        credit_check(company, Decimal(amount))
    return exc.value


# --- Available credit ----------------------------------------------------------------------------


def test_available_is_limit_less_unpaid_invoices_less_holds(company) -> None:
    # Given an invoice of 30,000 of which 10,000 is paid, and a hold of 5,000
    invoice = charge(company, "30000.00")
    Invoice.objects.filter(pk=invoice.pk).update(paid_amount=Decimal("10000.00"))
    credit_reserve(company=company, reference="PO-HOLD", amount=Decimal("5000.00"))
    # Then 100,000 - 20,000 - 5,000 is available
    position = credit_position(company)
    assert (position.limit, position.unpaid, position.reserved, position.available) == (
        Decimal("100000.00"),
        Decimal("20000.00"),
        Decimal("5000.00"),
        Decimal("75000.00"),
    )


def test_paid_and_void_invoices_do_not_use_credit(company) -> None:
    paid = charge(company, "10000.00")
    void = charge(company, "20000.00")
    Invoice.objects.filter(pk=paid.pk).update(paid_amount=paid.total, status=Invoice.Status.PAID)
    Invoice.objects.filter(pk=void.pk).update(status=Invoice.Status.VOID)
    assert credit_position(company).available == Decimal("100000.00")


def test_overdue_invoices_still_use_credit(company) -> None:
    invoice = charge(company, "10000.00")
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.OVERDUE)
    assert credit_position(company).available == Decimal("90000.00")


def test_available_never_shows_below_zero(company) -> None:
    charge(company, "90000.00")
    CreditLine.objects.filter(company=company).update(limit=Decimal("50000.00"))
    assert credit_position(company).available == Decimal("0.00")


def test_a_company_without_a_line_has_no_position() -> None:
    assert credit_position(factories.company()) is None


# --- Refusals ------------------------------------------------------------------------------------


def test_insufficient_credit_is_refused_with_the_available_amount(company) -> None:
    charge(company, "99000.00")
    refused = refusal(company, "1000.01")
    assert refused.code == "insufficient_credit"
    assert refused.available == Decimal("1000.00")
    assert refused.message == (
        "Not enough credit: this order needs ¥1,000.01, available credit is ¥1,000.00."
    )


def test_the_last_yuan_of_the_line_can_be_used(company) -> None:
    charge(company, "99000.00")
    assert credit_check(company, Decimal("1000.00")).available == Decimal("1000.00")


def test_a_suspended_line_is_refused(company) -> None:
    CreditLine.objects.filter(company=company).update(status=CreditLine.Status.SUSPENDED)
    refused = refusal(company, "1.00")
    assert refused.code == "credit_suspended"
    assert refused.message == (
        f"The credit line of {company.legal_name} is suspended; pay by bank transfer."
    )


def test_an_invoice_past_due_and_grace_stops_new_credit_orders(company) -> None:
    # Given an invoice due 6 days ago, with 5 grace days
    invoice = charge(company, "1000.00")
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=timezone.localdate() - datetime.timedelta(days=6)
    )
    # Then even a small credit order is refused, naming the invoice
    refused = refusal(company, "1.00")
    assert refused.code == "past_due"
    assert refused.message == (
        f"Invoice {invoice.number} is past its due date and grace period; new credit orders "
        "are on hold until it is paid."
    )
    assert credit_position(company).past_due_invoice == invoice.number


def test_an_invoice_within_its_grace_days_does_not_stop_credit(company) -> None:
    invoice = charge(company, "1000.00")
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=timezone.localdate() - datetime.timedelta(days=5)
    )
    assert credit_check(company, Decimal("1.00")).past_due_invoice is None


def test_a_paid_invoice_past_due_does_not_stop_credit(company) -> None:
    invoice = charge(company, "1000.00")
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=timezone.localdate() - datetime.timedelta(days=60),
        paid_amount=invoice.total,
        status=Invoice.Status.PAID,
    )
    credit_check(company, Decimal("1.00"))


def test_charging_beyond_the_line_writes_no_invoice(company) -> None:
    with pytest.raises(CreditRefused):
        charge(company, "100000.01")
    assert not Invoice.objects.exists()


def test_charging_issues_an_invoice_due_after_the_net_days(company) -> None:
    invoice = charge(company, "2500.00")
    assert invoice.due_date == invoice.issue_date + datetime.timedelta(days=30)
    assert invoice.kind == Invoice.Kind.INVOICE
    assert credit_position(company).available == Decimal("97500.00")


# --- Holds ---------------------------------------------------------------------------------------


def test_a_hold_is_taken_once_per_reference_and_released(company) -> None:
    first = credit_reserve(company=company, reference="PO1", amount=Decimal("4000.00"))
    again = credit_reserve(company=company, reference="PO1", amount=Decimal("4000.00"))
    assert first == again
    assert credit_position(company).reserved == Decimal("4000.00")
    credit_release(company=company, reference="PO1")
    assert credit_position(company).reserved == Decimal("0.00")
    assert CreditReservation.objects.get().released_at is not None


def test_a_hold_beyond_the_available_credit_is_refused(company) -> None:
    credit_reserve(company=company, reference="PO1", amount=Decimal("60000.00"))
    with pytest.raises(CreditRefused, match=r"available credit is ¥40,000\.00"):
        credit_reserve(company=company, reference="PO2", amount=Decimal("60000.00"))


def test_charging_an_order_counts_its_own_hold_once_and_releases_it(company) -> None:
    credit_reserve(company=company, reference="PO-BIG", amount=Decimal("100000.00"))
    invoice = charge(company, "100000.00", number="PO-BIG")
    assert invoice.total == Decimal("100000.00")
    position = credit_position(company)
    assert (position.reserved, position.unpaid) == (Decimal("0.00"), Decimal("100000.00"))


# --- Operators change lines ----------------------------------------------------------------------


def test_setting_a_line_is_audited_with_the_operator_and_ip() -> None:
    company = factories.company()
    ops = factories.operator()
    line = credit_line_set(
        company=company,
        limit=Decimal("50000.00"),
        net_days=30,
        grace_days=5,
        status="active",
        actor=ops,
        ip="192.0.2.10",
    )
    assert (line.limit, line.net_days, line.grace_days) == (Decimal("50000.00"), 30, 5)
    event = AuditEvent.objects.get(action=BillingAction.CREDIT_LINE_SET)
    assert (event.actor, event.ip, event.company) == (ops, "192.0.2.10", company)
    assert event.changes["limit"] == [None, "50000.00"]


def test_changing_a_line_records_only_what_changed(company) -> None:
    credit_line_set(
        company=company,
        limit=Decimal("150000.00"),
        net_days=30,
        grace_days=5,
        status="suspended",
        actor=None,
    )
    event = AuditEvent.objects.get(action=BillingAction.CREDIT_LINE_SET)
    assert event.changes == {
        "limit": ["100000.00", "150000.00"],
        "status": ["active", "suspended"],
    }


def test_saving_a_line_unchanged_writes_no_audit_row(company) -> None:
    credit_line_set(
        company=company,
        limit=Decimal("100000.00"),
        net_days=30,
        grace_days=5,
        status="active",
        actor=None,
    )
    assert not AuditEvent.objects.filter(action=BillingAction.CREDIT_LINE_SET).exists()


def test_a_bad_line_is_refused_field_by_field(company) -> None:
    with pytest.raises(ValidationError) as exc:
        credit_line_set(
            company=company,
            limit=Decimal("-1"),
            net_days=0,
            grace_days=91,
            status="open",
            actor=None,
        )
    assert set(exc.value.message_dict) == {"limit", "net_days", "grace_days", "status"}
    with pytest.raises(ValidationError, match="at most 2 decimal places"):
        credit_line_set(
            company=company,
            limit=Decimal("1.005"),
            net_days=30,
            grace_days=5,
            status="active",
            actor=None,
        )
    assert CreditLine.objects.get(company=company).limit == Decimal("100000.00")
