"""Billing's Celery tasks. Receivables (daily: overdue, reminders, holds; nightly ledger check)
live in ``billing.tasks_receivables``, statements in ``billing.tasks_statements``; both are
imported here so Celery's autodiscovery finds them. Task names are explicit
(``billing.tasks.<name>``) so routing (``billing.tasks.statement_*`` → statements queue) holds."""

from billing.tasks_receivables import *  # noqa: F403
from billing.tasks_statements import *  # noqa: F403
