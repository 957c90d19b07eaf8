"""Credit holds: placed while a company has an invoice past its due date plus grace, lifted
when none is left (by the daily run, or at once after a payment)."""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.audit import BillingAction
from billing.dues import open_sale_invoices as _open
from billing.dues import past_grace_invoices
from billing.models import CreditHold, CreditLine, Invoice
from portal.models import Company, User
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue


def _grace_days(company: Company) -> int:
    line = CreditLine.objects.filter(company=company).only("grace_days").first()
    return line.grace_days if line is not None else 0


def open_sale_invoices() -> QuerySet[Invoice]:
    return _open().filter(due_date__isnull=False)


def _blocking_invoice(company: Company, today: datetime.date) -> Invoice | None:
    return (
        past_grace_invoices(
            Invoice.objects.filter(company=company), today=today, grace_days=_grace_days(company)
        )
        .order_by("due_date", "id")
        .first()
    )


def _hold_refresh(company: Company, today: datetime.date, actor: User | None) -> str | None:
    blocking = _blocking_invoice(company, today)
    hold = (
        CreditHold.objects.select_for_update()
        .filter(company=company, lifted_at__isnull=True)
        .first()
    )
    if blocking is not None and hold is None:
        try:
            with transaction.atomic():
                hold = CreditHold.objects.create(company=company, invoice=blocking)
        except IntegrityError:
            return None  # placed at the same moment by another run
        audit_record(
            action=BillingAction.CREDIT_HOLD_PLACED,
            actor=actor,
            company=company,
            obj=hold,
            changes={"invoice": blocking.number, "due_date": str(blocking.due_date)},
        )
        _queue_hold_notice(hold.pk, "placed")
        return "placed"
    if blocking is None and hold is not None:
        lifted = CreditHold.objects.filter(pk=hold.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now()
        )
        if not lifted:
            return None
        audit_record(
            action=BillingAction.CREDIT_HOLD_LIFTED,
            actor=actor,
            company=company,
            obj=hold,
            changes={"invoice": hold.invoice.number},
        )
        _queue_hold_notice(hold.pk, "lifted")
        return "lifted"
    if blocking is not None and hold is not None and hold.invoice_id != blocking.pk:
        # The invoice that caused the hold is paid, another one keeps it: name that one.
        CreditHold.objects.filter(pk=hold.pk).update(invoice=blocking)
    return None


def _queue_hold_notice(hold_id: int, event: str) -> None:
    from billing.tasks.receivables import credit_hold_notify

    outbox_enqueue(credit_hold_notify, hold_id, event)


@transaction.atomic
def credit_hold_refresh(
    *, company: Company, today: datetime.date | None = None, actor: User | None = None
) -> str | None:
    """Place or lift the company's credit hold now; "placed", "lifted" or None (no change).
    The payment services call it after every allocation, so a payment lifts the hold at once."""
    return _hold_refresh(company, today or timezone.localdate(), actor)


def credit_hold_open(company: Company) -> CreditHold | None:
    return (
        CreditHold.objects.filter(company=company, lifted_at__isnull=True)
        .select_related("invoice")
        .first()
    )
