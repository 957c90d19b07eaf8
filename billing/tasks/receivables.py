"""Receivables tasks (see ``billing.tasks``): the daily run at 06:00 Asia/Shanghai, the nightly
ledger check at 03:30, and the emails they queue. Ids in, never secrets."""

from __future__ import annotations

from smtplib import SMTPException
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from billing.dues import OPEN_STATUSES
from billing.models import CreditHold, InvoiceReminder
from billing.money import format_cny
from billing.services import receivables

__all__ = ["credit_hold_notify", "invoice_reminder_send", "ledger_check", "receivables_daily"]

_MAIL_RETRY: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 1800,
    "max_retries": 8,
}


@shared_task(name="billing.tasks.receivables_daily", acks_late=True)
def receivables_daily() -> dict[str, Any]:
    """Overdue marking, reminders and credit holds for today (idempotent)."""
    return receivables.receivables_daily().as_dict()


@shared_task(name="billing.tasks.ledger_check", acks_late=True)
def ledger_check() -> dict[str, Any]:
    """Recompute the money invariants; a drift is stored, logged and emailed to operators."""
    run = receivables.ledger_check_run()
    return {"id": run.pk, "ok": run.ok}


@shared_task(name="billing.tasks.invoice_reminder_send", **_MAIL_RETRY)
def invoice_reminder_send(reminder_id: int) -> str:
    """Email one recorded reminder to the company's finance contacts, if still unpaid. Once:
    a message delivered twice finds the reminder emailed (under its row lock)."""
    with transaction.atomic():
        reminder = (
            InvoiceReminder.objects.select_for_update(of=("self",))
            .select_related("invoice__company")
            .filter(pk=reminder_id)
            .first()
        )
        if reminder is None:
            return "missing"
        if reminder.emailed_at is not None:
            return "already-sent"
        invoice = reminder.invoice
        if invoice.status not in OPEN_STATUSES:
            return "paid"
        recipients = receivables.finance_contacts(invoice.company)
        if not recipients:
            return "no-contacts"
        subject, body = receivables.bilingual(
            "invoice_reminder", receivables.reminder_context(reminder)
        )
        send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
        reminder.emailed_at = timezone.now()
        reminder.save(update_fields=["emailed_at"])
    return "sent"


@shared_task(name="billing.tasks.credit_hold_notify", **_MAIL_RETRY)
def credit_hold_notify(hold_id: int, event: str) -> str:
    """Tell the company that its credit orders are held ("placed") or may go on ("lifted").
    Once per event: a message delivered twice finds it notified (under the hold's row lock)."""
    if event not in ("placed", "lifted"):
        return "missing"
    marker = f"{event}_notified_at"
    with transaction.atomic():
        hold = (
            CreditHold.objects.select_for_update(of=("self",))
            .select_related("company", "invoice")
            .filter(pk=hold_id)
            .first()
        )
        if hold is None:
            return "missing"
        if getattr(hold, marker) is not None:
            return "already-sent"
        if event == "placed" and hold.lifted_at is not None:
            return "already-lifted"
        recipients = receivables.finance_contacts(hold.company)
        if not recipients:
            return "no-contacts"
        base = settings.PORTAL_BASE_URL.rstrip("/")
        subject, body = receivables.bilingual(
            f"credit_hold_{event}",
            {
                "hold": hold,
                "company": hold.company,
                "invoice": hold.invoice,
                "balance": format_cny(hold.invoice.balance_due),
                "link": base + reverse("billing:credit"),
                "invoice_link": base
                + reverse("billing:invoice_detail", args=[hold.invoice.number]),
            },
        )
        send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
        setattr(hold, marker, timezone.now())
        hold.save(update_fields=[marker])
    return "sent"
