"""Statement tasks (statements queue: the names start ``billing.tasks.statement_``). Ids and
dates only; each is idempotent, so a re-delivered message builds nothing twice."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone

from billing.models import Statement
from portal.models import Company

__all__ = ["statement_build", "statement_monthly"]


@shared_task(name="billing.tasks.statement_build", acks_late=True)
def statement_build(
    *,
    statement_id: int | None = None,
    company_id: int | None = None,
    period_start: str = "",
    period_end: str = "",
    trigger: str = Statement.Trigger.MONTHLY,
) -> str:
    """Build a claimed statement row (``statement_id``), or the statement of a company and
    period (ISO dates). Returns the statement's status."""
    from billing.services import statements

    if statement_id is not None:
        built = statements.statement_build_claimed(statement_id=statement_id)
        return built.status if built is not None else "missing"
    company = Company.objects.filter(pk=company_id).first() if company_id is not None else None
    if company is None:
        return "missing"
    statement = statements.statement_build(
        company=company,
        period_start=datetime.date.fromisoformat(period_start),
        period_end=datetime.date.fromisoformat(period_end),
        trigger=trigger,
    )
    return statement.status


@shared_task(name="billing.tasks.statement_monthly", acks_late=True)
def statement_monthly(month_start: str = "") -> int:
    """Beat, the 1st at 02:00 Asia/Shanghai: queue last month's statement of every active
    company. ``month_start`` (ISO date) picks another month, for a catch-up run."""
    from billing.services import statements

    start = (
        datetime.date.fromisoformat(month_start) if month_start else timezone.localdate()
    ).replace(day=1)
    return statements.statements_monthly(month_start=start)
