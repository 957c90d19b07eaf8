"""Statements of account: monthly (Celery beat, the 1st at 02:00 Asia/Shanghai) and on demand.

A statement covers whole Asia/Shanghai days, ``period_start`` to ``period_end`` inclusive, that
is the instants ``[period_start 00:00, period_end + 1 00:00)`` in Shanghai time.

What it says, all read from the ledger so that the numbers agree with it by construction:

- opening balance: the company's receivable account at the period's first instant (postings of
  entries created before it); closing balance: the same at the instant after the period;
- activity: every posting on that account in the period, in time order, with a running balance.
  Invoices (``invoice_issued``) are "invoiced", credit notes (``credit_note``) "credited", every
  other movement (payments, allocations, their reversals, company credit used) "paid", so that
  opening + invoiced - credited - paid = closing always;
- pro-forma invoices are excluded: they are requests for payment, not receivables, and post
  nothing; when one is paid, the invoice issued for it and its payment appear as activity;
- counts of the period's invoices, credit notes, payments received and allocations;
- aging of the open invoices as of the period end (by days past their due date on that day);
- card activity from the provider the cards app registers (``billing.statement_sections``).

An issued statement is immutable (a database trigger refuses UPDATE and DELETE once issued) and
a re-issue is a new version. The row is claimed first through the unique (company, period,
version) constraint, ``INSERT ... ON CONFLICT DO NOTHING``: two schedulers or a retried task
meet on one row; the build then locks it, and whoever comes second finds it issued.

The package by feature: ``periods`` (periods and numbers), ``issue`` (claiming the row and the
entry points), ``content`` (what a statement says, from the ledger), ``files`` (CSV, XLSX and
PDF), ``build`` (storing the files and issuing) and ``notify`` (telling the company).
"""

from billing.services.statements.build import StatementAction
from billing.services.statements.content import AGING_BUCKETS, aging_labels, statement_content
from billing.services.statements.issue import (
    StatementStateError,
    statement_build,
    statement_build_claimed,
    statement_queue_reissue,
    statement_reissue,
    statement_request,
    statement_retry,
    statements_monthly,
)
from billing.services.statements.notify import statement_notify, statement_recipients
from billing.services.statements.periods import (
    last_month,
    period_bounds,
    previous_month,
    statement_number,
)

# isort: split
# bench/statements.py times the file writers one by one. To do: give them public names in
# files.py (left for now: that module is being changed by the exports work) and drop these.
from billing.services.statements.files import _write_csv as _write_csv
from billing.services.statements.files import _write_files as _write_files
from billing.services.statements.files import _write_pdf as _write_pdf
from billing.services.statements.files import _write_xlsx as _write_xlsx

__all__ = [
    "AGING_BUCKETS",
    "StatementAction",
    "StatementStateError",
    "aging_labels",
    "last_month",
    "period_bounds",
    "previous_month",
    "statement_build",
    "statement_build_claimed",
    "statement_content",
    "statement_notify",
    "statement_number",
    "statement_queue_reissue",
    "statement_recipients",
    "statement_reissue",
    "statement_request",
    "statement_retry",
    "statements_monthly",
]
