"""The receivables notices: an invoice reminder and a credit hold placed or lifted, each emailed
once to the company's finance members (else its owners) and its billing address, with no row
locked while the mail goes out (``portal.notices``)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from billing.dues import OPEN_STATUSES
from billing.models import CreditHold, InvoiceReminder
from billing.money import format_cny
from portal.models import Company, Role
from portal.notices import (
    Notice,
    NoticeMarker,
    notice_compose,
    notice_link,
    notice_recipients,
    notice_send,
)

CREDIT_HOLD_EVENTS = ("placed", "lifted")


def finance_recipients(company: Company) -> list[str]:
    """Who hears about the company's invoices, holds and statements: its finance members (its
    owners when it has none) and its billing address."""
    return notice_recipients(
        company, roles=[Role.FINANCE], fallback_roles=[Role.OWNER], include_billing_email=True
    )


def reminder_context(reminder: InvoiceReminder) -> dict[str, Any]:
    from billing.selectors import platform_seller

    invoice = reminder.invoice
    today = timezone.localdate()
    assert invoice.due_date is not None
    return {
        "reminder": reminder,
        "invoice": invoice,
        "company": invoice.company,
        "balance": format_cny(invoice.balance_due),
        "total": format_cny(invoice.total),
        "due_date": invoice.due_date.isoformat(),
        "days_to_due": (invoice.due_date - today).days,
        "days_past_due": (today - invoice.due_date).days,
        "seller": platform_seller(),
        "link": notice_link("billing:invoice_detail", invoice.number),
    }


def invoice_reminder_notify(*, reminder_id: int) -> str:
    """Email one recorded reminder, if its invoice is still open: ``sent``, ``already-sent``,
    ``paid``, ``no-contacts`` or ``missing``."""
    marker = NoticeMarker(InvoiceReminder, reminder_id, "emailed_at")

    def prepare() -> Notice | str:
        reminder = (
            InvoiceReminder.objects.select_related("invoice__company")
            .filter(pk=reminder_id)
            .first()
        )
        if reminder is None:
            return "missing"
        if marker.is_set(reminder):
            return "already-sent"
        if reminder.invoice.status not in OPEN_STATUSES:
            return "paid"
        to = finance_recipients(reminder.invoice.company)
        if not to:
            return "no-contacts"
        subject, body = notice_compose("emails/invoice_reminder", reminder_context(reminder))
        return Notice(to=to, subject=subject, body=body)

    return notice_send(prepare=prepare, marker=marker)


def credit_hold_event_notify(*, hold_id: int, event: str) -> str:
    """Tell the company that its credit orders are held (``placed``) or may go on (``lifted``),
    once per event: ``sent``, ``already-sent``, ``already-lifted`` (a placement told after the
    lifting), ``no-contacts`` or ``missing``."""
    if event not in CREDIT_HOLD_EVENTS:
        return "missing"
    marker = NoticeMarker(CreditHold, hold_id, f"{event}_notified_at")

    def prepare() -> Notice | str:
        hold = CreditHold.objects.select_related("company", "invoice").filter(pk=hold_id).first()
        if hold is None:
            return "missing"
        if marker.is_set(hold):
            return "already-sent"
        if event == "placed" and hold.lifted_at is not None:
            return "already-lifted"
        to = finance_recipients(hold.company)
        if not to:
            return "no-contacts"
        subject, body = notice_compose(
            f"emails/credit_hold_{event}",
            {
                "hold": hold,
                "company": hold.company,
                "invoice": hold.invoice,
                "balance": format_cny(hold.invoice.balance_due),
                "link": notice_link("billing:credit"),
                "invoice_link": notice_link("billing:invoice_detail", hold.invoice.number),
            },
        )
        return Notice(to=to, subject=subject, body=body)

    return notice_send(prepare=prepare, marker=marker)
