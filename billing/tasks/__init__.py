"""Billing's Celery tasks. Receivables (daily: overdue, reminders, holds; nightly ledger check)
live in ``billing.tasks.receivables``, statements in ``billing.tasks.statements``; both are
imported here so Celery's autodiscovery finds them. Task names are explicit
(``billing.tasks.<name>``) so routing (``billing.tasks.statement_*`` → statements queue) holds."""

from billing.tasks.receivables import (
    credit_hold_notify,
    invoice_reminder_send,
    ledger_check,
    receivables_daily,
)
from billing.tasks.statements import statement_build, statement_monthly

__all__ = [
    "credit_hold_notify",
    "invoice_reminder_send",
    "ledger_check",
    "receivables_daily",
    "statement_build",
    "statement_monthly",
]
