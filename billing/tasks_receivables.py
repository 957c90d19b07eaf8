"""Old path of the receivables tasks, which now live in ``billing.tasks.receivables`` (their
Celery names, ``billing.tasks.<name>``, are unchanged).

Imported from outside: ``billing/services/receivables.py`` (moved by another change, so not
edited here) still imports ``credit_hold_notify`` and ``invoice_reminder_send`` from this path.
Hidden coupling, to clean up: once it imports from ``billing.tasks``, delete this module."""

from billing.tasks.receivables import (
    credit_hold_notify,
    invoice_reminder_send,
    ledger_check,
    receivables_daily,
)

__all__ = ["credit_hold_notify", "invoice_reminder_send", "ledger_check", "receivables_daily"]
