"""When a sale invoice is open, and when it is past its due date plus grace: the one home of
these rules. The credit position, credit holds, the credit page and reminders all ask here.

An invoice due on day D, with a credit line's grace of G days, can be paid up to and including
day D + G (``pay_by``); from day D + G + 1 it is *past due plus grace* and the company's new
credit orders wait (a credit hold) until it is paid.
"""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from billing.models import Invoice

# Statuses of an invoice that is issued and not yet fully paid.
OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)


def open_sale_invoices(invoices: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Sale invoices (not pro-formas or credit notes) that are still to be paid."""
    invoices = Invoice.objects.all() if invoices is None else invoices
    return invoices.filter(kind=Invoice.Kind.INVOICE, status__in=OPEN_STATUSES)


def pay_by(due_date: datetime.date, grace_days: int) -> datetime.date:
    """The last day the invoice can be paid before credit orders are held."""
    return due_date + datetime.timedelta(days=grace_days)


def past_grace(due_date: datetime.date | None, *, today: datetime.date, grace_days: int) -> bool:
    return due_date is not None and today > pay_by(due_date, grace_days)


def past_grace_invoices(
    invoices: QuerySet[Invoice], *, today: datetime.date, grace_days: int
) -> QuerySet[Invoice]:
    """The open sale invoices among ``invoices`` that are past due plus grace on ``today``."""
    cutoff = today - datetime.timedelta(days=grace_days)
    return open_sale_invoices(invoices).filter(due_date__lt=cutoff)
