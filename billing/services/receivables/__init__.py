"""Receivables: overdue marking, reminders, credit holds, aging and the nightly ledger check.

Daily (``receivables_daily``, a Celery beat task at 06:00 Asia/Shanghai), company by company, each
in its own short transaction:

- open sale invoices whose due date has passed become ``overdue``;
- reminders go out 7 days before the due date, on it, and 7 and 30 days after it. Each is decided
  by inserting its ``InvoiceReminder`` row (unique per invoice and kind) in the transaction that
  queues the email on commit, so a second run, a second beat or a retried task sends nothing
  again. A missed day catches up: the latest stage whose day has passed is sent once, and the
  earlier stages it covers are recorded with it (nobody wants three letters the same morning).
  The "before due" reminder is never sent on or after the due date;
- a company with an invoice past its due date plus the grace days of its credit line gets a
  ``CreditHold`` (new credit orders are refused while it is open); the hold is lifted when nothing
  is past due + grace any more. Payments lift it at once: ``credit_hold_refresh`` runs after every
  allocation.

Locks: the daily run takes a transaction-level advisory lock per company (two beats never work on
the same company at once), then the company's invoices in primary-key order, then the hold row,
the same order the payment services use (invoices, then ``credit_hold_refresh``). The hold itself
is decided by its partial unique index (one open hold per company), never by a look-up alone.

Aging (``aging_report``) works from invoice balances *as of* a date: invoices issued on or before
it, less what was allocated to them by the end of that day in Asia/Shanghai; so a statement for
a past period shows what was owed then, not what is owed today.

The package by feature: ``holds`` (credit holds), ``daily`` (the daily run and its reminders),
``aging`` (the aging report and its export), ``ledger_check`` (the nightly ledger check) and
``notices`` (the reminder and credit-hold emails; composed and sent by ``portal.notices``).
"""

from billing.services.receivables.aging import (
    BUCKET_KEYS,
    BUCKETS,
    AgingItem,
    AgingReport,
    AgingRow,
    aging_bucket,
    aging_export,
    aging_report,
    bucket_label,
    day_end,
)
from billing.services.receivables.daily import (
    REMINDER_DAYS,
    DailySummary,
    receivables_company_daily,
    receivables_daily,
    reminder_kinds_due,
)
from billing.services.receivables.holds import (
    credit_hold_open,
    credit_hold_refresh,
    open_sale_invoices,
)
from billing.services.receivables.ledger_check import (
    CHECK_LABELS,
    ledger_alert_send,
    ledger_check_run,
)
from billing.services.receivables.notices import (
    credit_hold_event_notify,
    finance_recipients,
    invoice_reminder_notify,
    reminder_context,
)

__all__ = [
    "BUCKETS",
    "BUCKET_KEYS",
    "CHECK_LABELS",
    "REMINDER_DAYS",
    "AgingItem",
    "AgingReport",
    "AgingRow",
    "DailySummary",
    "aging_bucket",
    "aging_export",
    "aging_report",
    "bucket_label",
    "credit_hold_event_notify",
    "credit_hold_open",
    "credit_hold_refresh",
    "day_end",
    "finance_recipients",
    "invoice_reminder_notify",
    "ledger_alert_send",
    "ledger_check_run",
    "open_sale_invoices",
    "receivables_company_daily",
    "receivables_daily",
    "reminder_context",
    "reminder_kinds_due",
]
