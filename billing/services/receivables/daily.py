"""The daily run: overdue marking, reminders and credit holds, company by company."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import locks
from billing.models import CreditHold, Invoice, InvoiceReminder
from billing.services.invoices import invoice_move
from billing.services.receivables.holds import _hold_refresh, open_sale_invoices
from portal.models import Company
from portal.services.outbox import outbox_enqueue

# The package's logger, named as before the split into modules.
logger = logging.getLogger("billing.services.receivables")


# Days from the due date on which each reminder is due, in the order they go out.
REMINDER_DAYS: dict[str, int] = {
    InvoiceReminder.Kind.BEFORE_DUE: -7,
    InvoiceReminder.Kind.ON_DUE: 0,
    InvoiceReminder.Kind.AFTER_7: 7,
    InvoiceReminder.Kind.AFTER_30: 30,
}
# Advisory lock namespace of the daily run ("RECV"); the second key is the company id.
_LOCK_NAMESPACE = 0x52454356


def _lock_company(company_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, company_id])


def reminder_kinds_due(due_date: datetime.date, today: datetime.date) -> list[str]:
    """The reminders whose day has come for an unpaid invoice due on ``due_date``: "before due"
    only before the due date, the others from their day on."""
    days = (today - due_date).days
    kinds = [kind for kind, offset in REMINDER_DAYS.items() if days >= offset]
    if days >= 0 and InvoiceReminder.Kind.BEFORE_DUE in kinds:
        kinds.remove(InvoiceReminder.Kind.BEFORE_DUE)
    return kinds


@dataclass
class DailySummary:
    today: datetime.date
    companies: int = 0
    marked_overdue: int = 0
    reminders: int = 0
    holds_placed: int = 0
    holds_lifted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "companies": self.companies,
            "marked_overdue": self.marked_overdue,
            "reminders": self.reminders,
            "holds_placed": self.holds_placed,
            "holds_lifted": self.holds_lifted,
        }


def _send_reminders(company: Company, today: datetime.date) -> int:
    """Under the company's advisory lock: record and queue the reminders due today."""
    sent = 0
    horizon = today - datetime.timedelta(days=REMINDER_DAYS[InvoiceReminder.Kind.BEFORE_DUE])
    invoices = open_sale_invoices().filter(company=company, due_date__lte=horizon).order_by("id")
    for invoice in invoices:
        assert invoice.due_date is not None
        due = reminder_kinds_due(invoice.due_date, today)
        if not due:
            continue
        done = set(invoice.reminders.values_list("kind", flat=True))
        missing = [kind for kind in due if kind not in done]
        if not missing:
            continue
        latest = missing[-1]
        try:
            with transaction.atomic():
                reminder = InvoiceReminder.objects.create(invoice=invoice, kind=latest)
                InvoiceReminder.objects.bulk_create(
                    [InvoiceReminder(invoice=invoice, kind=kind) for kind in missing[:-1]],
                    ignore_conflicts=True,
                )
        except IntegrityError:
            continue  # another run recorded it first: that run sends it
        from billing.tasks.receivables import invoice_reminder_send

        outbox_enqueue(invoice_reminder_send, reminder.pk)
        sent += 1
    return sent


def receivables_company_daily(*, company_id: int, today: datetime.date) -> DailySummary:
    """One company's daily work, in one short transaction."""
    summary = DailySummary(today=today, companies=1)
    with transaction.atomic():
        _lock_company(company_id)
        company = Company.objects.get(pk=company_id)
        due = Invoice.objects.filter(
            company=company,
            kind=Invoice.Kind.INVOICE,
            status=Invoice.Status.OPEN,
            due_date__lt=today,
        ).values_list("pk", flat=True)
        for invoice in locks.lock_invoices(due).values():
            if invoice.status == Invoice.Status.OPEN:  # re-checked under the lock
                invoice_move(invoice, Invoice.Status.OVERDUE)
                summary.marked_overdue += 1
        summary.reminders = _send_reminders(company, today)
        change = _hold_refresh(company, today, None)
        summary.holds_placed = int(change == "placed")
        summary.holds_lifted = int(change == "lifted")
    return summary


def receivables_daily(*, today: datetime.date | None = None) -> DailySummary:
    """Mark overdue invoices, send reminders, place and lift credit holds; safe to run twice in
    a day or from two schedulers at once."""
    today = today or timezone.localdate()
    total = DailySummary(today=today)
    company_ids = set(open_sale_invoices().values_list("company_id", flat=True).distinct())
    company_ids |= set(
        CreditHold.objects.filter(lifted_at__isnull=True).values_list("company_id", flat=True)
    )
    for company_id in sorted(company_ids):
        try:
            part = receivables_company_daily(company_id=company_id, today=today)
        except Exception:
            # One company's failure must not stop the others; the next run retries it.
            logger.exception("receivables: daily run failed for company %s", company_id)
            continue
        total.companies += 1
        total.marked_overdue += part.marked_overdue
        total.reminders += part.reminders
        total.holds_placed += part.holds_placed
        total.holds_lifted += part.holds_lifted
    logger.info("receivables daily %s", total.as_dict())
    return total
