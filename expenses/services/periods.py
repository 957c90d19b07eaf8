"""Reconciliation periods: a company's calendar months (Asia/Shanghai)."""

from __future__ import annotations

import datetime

from expenses.models import ReconciliationPeriod
from portal.models import Company


def period_month(day: datetime.date) -> datetime.date:
    """The first day of the month ``day`` is in: the period's ``month``."""
    return day.replace(day=1)


def period_for(*, company: Company, day: datetime.date) -> ReconciliationPeriod:
    """The company's period of the month of ``day``, created (open) the first time it is asked
    for. Two callers racing to create it get the same row: the unique (company, month) index
    decides, and the loser reads the winner's row (``get_or_create`` retries the read on the
    IntegrityError, in a savepoint)."""
    period, _created = ReconciliationPeriod.objects.get_or_create(
        company=company, month=period_month(day)
    )
    return period
