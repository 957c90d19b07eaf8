"""Receivables tasks (see ``billing.tasks``): the daily run at 06:00 Asia/Shanghai, the nightly
ledger check at 03:30, and the emails they queue. Ids in, never secrets."""

from __future__ import annotations

from smtplib import SMTPException
from typing import Any

from celery import shared_task

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
    a message delivered twice finds the reminder emailed."""
    return receivables.invoice_reminder_notify(reminder_id=reminder_id)


@shared_task(name="billing.tasks.credit_hold_notify", **_MAIL_RETRY)
def credit_hold_notify(hold_id: int, event: str) -> str:
    """Tell the company that its credit orders are held ("placed") or may go on ("lifted").
    Once per event: a message delivered twice finds it notified."""
    return receivables.credit_hold_event_notify(hold_id=hold_id, event=event)
