"""Asking for statements: the row claimed once per company, period and version, then built
now or by a worker; re-issues and the monthly run."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from billing.models import Statement
from billing.services.statements.build import StatementAction, _build
from billing.services.statements.periods import _check_period, previous_month, statement_number
from portal.errors import StateConflict
from portal.models import Company, User
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue


class StatementStateError(StateConflict):
    """The statement's status (read under its row lock) does not allow the action."""

    default_code = "statement_state"


def _claim(
    *,
    company: Company,
    period_start: datetime.date,
    period_end: datetime.date,
    version: int,
    trigger: str,
    actor: User | None,
) -> Statement:
    """The statement row of this company, period and version: inserted unless it exists
    (``ON CONFLICT DO NOTHING``: the unique constraint decides, not a look-up first)."""
    Statement.objects.bulk_create(
        [
            Statement(
                company=company,
                number=statement_number(company, period_start, period_end, version),
                period_start=period_start,
                period_end=period_end,
                version=version,
                trigger=trigger,
                requested_by=actor if actor is not None and actor.pk else None,
            )
        ],
        ignore_conflicts=True,
    )
    return Statement.objects.get(
        company=company, period_start=period_start, period_end=period_end, version=version
    )


def _latest(
    company: Company, period_start: datetime.date, period_end: datetime.date
) -> Statement | None:
    return (
        Statement.objects.filter(company=company, period_start=period_start, period_end=period_end)
        .order_by("-version")
        .first()
    )


def statement_build(
    *,
    company: Company,
    period_start: datetime.date,
    period_end: datetime.date,
    trigger: str,
    actor: User | None = None,
) -> Statement:
    """The company's statement for the period, built and issued unless it already is. Monthly
    and on-demand builds share version 1 (the latest version, once re-issued); a failed or
    half-built one is built again. Returns the statement, issued or failed."""
    _check_period(period_start, period_end)
    if trigger == Statement.Trigger.REISSUE:
        raise ValueError("re-issue with statement_reissue()")
    existing = _latest(company, period_start, period_end)
    statement = existing or _claim(
        company=company,
        period_start=period_start,
        period_end=period_end,
        version=1,
        trigger=trigger,
        actor=actor,
    )
    if statement.status == Statement.Status.ISSUED:
        return statement
    return _build(statement.pk)


def statement_request(
    *,
    company: Company,
    period_start: datetime.date,
    period_end: datetime.date,
    actor: User | None,
) -> Statement:
    """An on-demand request from the portal or the API: the issued statement of that period if
    there is one, else its row (being prepared) with the build queued for a worker."""
    _check_period(period_start, period_end)
    statement = _latest(company, period_start, period_end) or _claim(
        company=company,
        period_start=period_start,
        period_end=period_end,
        version=1,
        trigger=Statement.Trigger.ON_DEMAND,
        actor=actor,
    )
    if statement.status != Statement.Status.ISSUED:
        _queue_build(statement, actor)
        audit_record(
            action=StatementAction.REQUESTED,
            actor=actor,
            company=company,
            obj=statement,
            changes={"period": f"{period_start}..{period_end}", "number": statement.number},
        )
    return statement


def _claim_next_version(statement: Statement, actor: User | None) -> Statement:
    """The row of the next version of ``statement``'s company and period (a re-issue)."""
    version = (
        Statement.objects.filter(
            company=statement.company,
            period_start=statement.period_start,
            period_end=statement.period_end,
        ).aggregate(top=Max("version"))["top"]
        or 0
    ) + 1
    return _claim(
        company=statement.company,
        period_start=statement.period_start,
        period_end=statement.period_end,
        version=version,
        trigger=Statement.Trigger.REISSUE,
        actor=actor,
    )


def statement_reissue(*, statement: Statement, actor: User | None = None) -> Statement:
    """A new version of an issued statement, built now from the ledger as it stands."""
    if statement.status != Statement.Status.ISSUED:
        return _build(statement.pk)
    fresh = _claim_next_version(statement, actor)
    audit_record(
        action=StatementAction.REISSUED,
        actor=actor,
        company=statement.company,
        obj=fresh,
        changes={"previous": statement.number, "number": fresh.number},
    )
    if fresh.status == Statement.Status.ISSUED:
        return fresh
    return _build(fresh.pk)


def statement_queue_reissue(*, statement: Statement, actor: User | None) -> Statement:
    """Claims the next version now and leaves the build to a worker."""
    fresh = _claim_next_version(statement, actor)
    _queue_build(fresh, actor)
    return fresh


def _queue_build(statement: Statement, actor: User | None) -> None:
    from billing.tasks.statements import statement_build as build_task

    outbox_enqueue(build_task, kwargs={"statement_id": statement.pk})


@transaction.atomic(durable=True)
def statement_retry(
    *, statement: Statement, actor: User | None, ip: str | None = None
) -> Statement:
    """Build a failed statement again, on a worker: the row goes back to being prepared (so a
    second click, or a second operator, finds it no longer failed and queues nothing), the build
    is queued once and the retry audited. Refused unless the statement is failed."""
    locked = (
        Statement.objects.select_for_update(of=("self",))
        .select_related("company")
        .get(pk=statement.pk)
    )
    if locked.status != Statement.Status.FAILED:
        if locked.status == Statement.Status.ISSUED:
            message = _("Statement %(number)s is already issued: there is nothing to retry.")
        else:
            message = _("Statement %(number)s is already being prepared: it appears when ready.")
        raise StatementStateError(message % {"number": locked.number})
    previous = locked.failure_code
    Statement.objects.filter(pk=locked.pk).update(
        status=Statement.Status.BUILDING, failure="", failure_code=""
    )
    locked.refresh_from_db()
    _queue_build(locked, actor)
    audit_record(
        action=StatementAction.RETRIED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"number": locked.number, "failure": previous},
    )
    return locked


def statement_build_claimed(*, statement_id: int) -> Statement | None:
    """Build a claimed row (the worker's side of ``statement_request`` and re-issues)."""
    statement = Statement.objects.filter(pk=statement_id).first()
    if statement is None or statement.status == Statement.Status.ISSUED:
        return statement
    return _build(statement_id)


def statements_monthly(*, month_start: datetime.date) -> int:
    """Queue the previous month's statement of every active company (one task each); returns
    how many were queued. Run twice, it queues twice, and each company still gets one."""
    from billing.tasks.statements import statement_build as build_task

    period_start, period_end = previous_month(month_start)
    company_ids = list(
        Company.objects.live()
        .filter(status=Company.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for company_id in company_ids:
        build_task.delay(
            company_id=company_id,
            period_start=period_start.isoformat(),
            period_end=period_end.isoformat(),
            trigger=Statement.Trigger.MONTHLY,
        )
    return len(company_ids)
