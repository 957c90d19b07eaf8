"""Closing a reconciliation period, and re-opening it.

``period_close`` takes the period's row lock (the lock every resolution takes first, so no act
slips in between the check and the close), refuses while a claim line of the period is an open
exception or not matched yet, or a report of the period is still being checked or matched, then
files the period's reconciliation report (XLSX and PDF, ``PeriodReport`` rows with the SHA-256
of each file and the figures it states: the database refuses to change or delete them) and
marks the period closed. Re-opening needs an owner and a reason; closing again files the next
version, the earlier ones stay.
"""

from __future__ import annotations

import datetime
import hashlib
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.money import ZERO
from cards.models import CardTransaction
from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    ExpenseReport,
    LineState,
    PeriodReport,
    PeriodStatus,
    ReconciliationPeriod,
    ReportStatus,
    Resolution,
)
from expenses.services.resolution import (
    RETURN_KINDS,
    SPEND_KINDS,
    open_exceptions,
    period_lock,
    period_refuse_closed,
)
from portal import days, policy
from portal.errors import DomainError, StateConflict
from portal.models import Company, User
from portal.policy import Action
from portal.services.audit import audit_record

REASON_MAX = 500
REPORT_FORMATS = ("xlsx", "pdf")
BUSY_REPORT_STATUSES = (ReportStatus.RECEIVED, ReportStatus.CHECKING, ReportStatus.MATCHING)
_MONEY = DecimalField(max_digits=14, decimal_places=2)


class PeriodNotReady(StateConflict):
    """The period still has work to do before it can close (the message says what)."""

    default_code = "period_not_ready"


class PeriodNotClosed(StateConflict):
    default_code = "period_open"


# --- Months --------------------------------------------------------------------------------------


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants ``[first day 00:00, first day of next month 00:00)``, Asia/Shanghai."""
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return days.day_start(first), days.day_start(following)


def month_text(month: datetime.date) -> str:
    return f"{month:%Y-%m}"


# --- Figures -------------------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    return str(value if value is not None else ZERO)


def unclaimed_spend_rows(month: datetime.date, company: Any) -> QuerySet[CardTransaction]:
    """The redemptions of ``company``'s cards (a company or an ``OuterRef``) made in the month
    with something left that no claim line backs, annotated ``left``: the amount, less its
    refunds and void, less what claims took of it (from any period)."""
    start, end = month_bounds(month)
    returned = (
        CardTransaction.objects.filter(original=OuterRef("pk"), kind__in=RETURN_KINDS)
        .order_by()
        .values("original")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    claimed = (
        ExpenseMatch.objects.filter(transaction=OuterRef("pk"))
        .order_by()
        .values("transaction")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return (
        CardTransaction.objects.filter(
            card__batch__company=company,
            kind__in=SPEND_KINDS,
            created_at__gte=start,
            created_at__lt=end,
        )
        .order_by()
        .annotate(
            left=Greatest(
                -F("amount")
                - Coalesce(Subquery(returned, output_field=_MONEY), Value(ZERO))
                - Coalesce(Subquery(claimed, output_field=_MONEY), Value(ZERO)),
                Value(ZERO),
                output_field=_MONEY,
            )
        )
        .filter(left__gt=0)
    )


def unclaimed_spend_of_month(company: Company, month: datetime.date) -> dict[str, Any]:
    """The company's card spend in the month that no claim line backs (``{"count": n,
    "amount": "..."}``).

    Computed here until the shared selector of unclaimed spend (by order and cost center) is
    merged; it reads the same rows."""
    left = unclaimed_spend_rows(month, company).aggregate(count=Count("pk"), amount=Sum("left"))
    return {"count": left["count"] or 0, "amount": _money(left["amount"])}


def period_figures(period: ReconciliationPeriod) -> dict[str, Any]:
    """What the period's reconciliation report states: its claim lines by state and by
    resolution (count and amount), open exceptions, the spend matched to its claims and the
    spend of the month nobody claimed."""
    lines = ExpenseLine.objects.filter(period=period).order_by()
    total = lines.aggregate(count=Count("pk"), amount=Sum("amount"), matched=Sum("matched_amount"))
    by_state: dict[str, dict[str, Any]] = {
        row["state"]: dict(row)
        for row in lines.values("state").annotate(count=Count("pk"), amount=Sum("amount"))
    }
    by_resolution: dict[str, dict[str, Any]] = {
        row["resolution"]: dict(row)
        for row in lines.values("resolution").annotate(count=Count("pk"), amount=Sum("amount"))
    }
    open_ = open_exceptions(lines).aggregate(count=Count("pk"), amount=Sum("amount"))
    matches = ExpenseMatch.objects.filter(line__period=period).aggregate(
        amount=Sum("amount"), manual=Count("pk", filter=Q(manual=True)), count=Count("pk")
    )
    return {
        "month": month_text(period.month),
        "lines": {
            "count": total["count"] or 0,
            "amount": _money(total["amount"]),
            "matched_amount": _money(total["matched"]),
        },
        "states": {
            state: {
                "count": by_state.get(state, {}).get("count", 0),
                "amount": _money(by_state.get(state, {}).get("amount")),
            }
            for state in LineState.values
        },
        "resolutions": {
            (resolution or "open"): {
                "count": by_resolution.get(resolution, {}).get("count", 0),
                "amount": _money(by_resolution.get(resolution, {}).get("amount")),
            }
            for resolution in Resolution.values
        },
        "open_exceptions": {"count": open_["count"] or 0, "amount": _money(open_["amount"])},
        "matched_spend": {
            "amount": _money(matches["amount"]),
            "matches": matches["count"] or 0,
            "manual": matches["manual"] or 0,
        },
        "unclaimed_spend": unclaimed_spend_of_month(period.company, period.month),
        "reports": lines.values("report_id").distinct().count(),
    }


# --- Close ---------------------------------------------------------------------------------------


def _readiness_problems(period: ReconciliationPeriod) -> list[str]:
    lines = ExpenseLine.objects.filter(period=period)
    problems = []
    queue = reverse("expenses:period_exceptions", args=[month_text(period.month)])
    exceptions = open_exceptions(lines).count()
    if exceptions:
        problems.append(
            ngettext(
                "%(count)s claim line is an open exception; accept or reject it first (%(url)s).",
                "%(count)s claim lines are open exceptions; accept or reject them first (%(url)s).",
                exceptions,
            )
            % {"count": exceptions, "url": queue}
        )
    pending = lines.filter(state=LineState.PENDING).count()
    busy = (
        ExpenseReport.objects.filter(
            company_id=period.company_id, status__in=BUSY_REPORT_STATUSES, lines__period=period
        )
        .distinct()
        .count()
    )
    if busy:
        problems.append(
            ngettext(
                "%(count)s expense report of the period is still being checked or matched; "
                "wait until it is done.",
                "%(count)s expense reports of the period are still being checked or matched; "
                "wait until they are done.",
                busy,
            )
            % {"count": busy}
        )
    elif pending:
        problems.append(
            ngettext(
                "%(count)s claim line is not matched yet; wait until its report is matched.",
                "%(count)s claim lines are not matched yet; wait until their reports are matched.",
                pending,
            )
            % {"count": pending}
        )
    return problems


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _file_reports(
    period: ReconciliationPeriod,
    *,
    version: int,
    figures: dict[str, Any],
    user: User,
    stored: list[str],
) -> list[PeriodReport]:
    """Write both files, then store them and their rows (the names stored go to ``stored``,
    for the caller to delete if its transaction rolls back)."""
    from expenses.services.period_files import write_pdf, write_xlsx

    records = []
    with tempfile.TemporaryDirectory(prefix="reconciliation-") as work:
        folder = Path(work)
        paths = {fmt: folder / f"report.{fmt}" for fmt in REPORT_FORMATS}
        write_xlsx(period, figures, paths["xlsx"])
        write_pdf(period, figures, paths["pdf"])
        # Stored only once both are written: a failure stores nothing.
        for fmt in REPORT_FORMATS:
            record = PeriodReport(
                period=period,
                version=version,
                file_format=fmt,
                file_sha256=_digest(paths[fmt]),
                figures=figures,
                created_by=user,
            )
            name = f"reconciliation-{month_text(period.month)}-v{version}.{fmt}"
            with open(paths[fmt], "rb") as handle:
                record.file.save(name, File(handle), save=False)
            stored.append(str(record.file.name))
            record.save()
            records.append(record)
    return records


def _closing(
    *, period: ReconciliationPeriod, user: User, ip: str | None, stored: list[str]
) -> tuple[ReconciliationPeriod, list[PeriodReport]]:
    locked = period_lock(period.pk)
    period_refuse_closed(locked)
    problems = _readiness_problems(locked)
    if problems:
        raise PeriodNotReady(
            " ".join(
                [
                    _("The period %(month)s cannot be closed yet.")
                    % {"month": month_text(locked.month)},
                    *problems,
                ]
            )
        )
    version = (
        PeriodReport.objects.filter(period=locked).aggregate(top=Max("version"))["top"] or 0
    ) + 1
    now = timezone.now()
    with translation.override(locked.company.language):
        figures = {
            **period_figures(locked),
            "version": version,
            "closed_at": now.isoformat(),
            "closed_by": user.email,
            "company": locked.company.legal_name,
        }
        reports = _file_reports(locked, version=version, figures=figures, user=user, stored=stored)
    ReconciliationPeriod.objects.filter(pk=locked.pk).update(
        status=PeriodStatus.CLOSED, closed_at=now, closed_by=user
    )
    locked.refresh_from_db()
    audit_record(
        action=ExpenseAction.PERIOD_CLOSED,
        actor=user,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={
            "month": month_text(locked.month),
            "version": version,
            "files": {r.file_format: r.file_sha256 for r in reports},
            "lines": figures["lines"],
            "unclaimed_spend": figures["unclaimed_spend"],
        },
    )
    return locked, reports


def period_close(
    *, period: ReconciliationPeriod, user: User, ip: str | None = None
) -> list[PeriodReport]:
    """Close the period and file its reconciliation report (XLSX and PDF, version N+1).
    Refused while it has open exceptions or reports still being checked or matched (the
    message says how many and where), and when it is closed already. Returns the new
    ``PeriodReport`` rows."""
    policy.require(period.company, user, Action.EXPENSES_CLOSE)
    stored: list[str] = []
    try:
        with transaction.atomic():
            _period, reports = _closing(period=period, user=user, ip=ip, stored=stored)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    period.refresh_from_db()
    return reports


@transaction.atomic
def period_reopen(
    *, period: ReconciliationPeriod, user: User, reason: str, ip: str | None = None
) -> ReconciliationPeriod:
    """Re-open a closed period (owners only), with a reason: its claims can be resolved again;
    the reports filed stay, and closing again files the next version."""
    policy.require(period.company, user, Action.EXPENSES_REOPEN)
    text = " ".join((reason or "").split())
    if not text:
        raise DomainError(
            {"reason": [_("Say why the period is re-opened: it is kept in the audit trail.")]},
            code="reason_required",
        )
    if len(text) > REASON_MAX:
        raise DomainError(
            {
                "reason": [
                    _("The reason has %(length)s characters; keep it to %(max)s.")
                    % {"length": len(text), "max": REASON_MAX}
                ]
            },
            code="reason_too_long",
        )
    locked = period_lock(period.pk)
    if locked.status != PeriodStatus.CLOSED:
        raise PeriodNotClosed(
            _("The period %(month)s is open: there is nothing to re-open.")
            % {"month": month_text(locked.month)}
        )
    closed = {
        "closed_at": locked.closed_at.isoformat() if locked.closed_at else None,
        "closed_by": locked.closed_by.email if locked.closed_by else None,
    }
    latest = PeriodReport.objects.filter(period=locked).aggregate(top=Max("version"))["top"]
    ReconciliationPeriod.objects.filter(pk=locked.pk).update(
        status=PeriodStatus.OPEN, closed_at=None, closed_by=None
    )
    locked.refresh_from_db()
    audit_record(
        action=ExpenseAction.PERIOD_REOPENED,
        actor=user,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={
            "month": month_text(locked.month),
            "reason": text,
            "report_version": latest,
            **closed,
        },
    )
    return locked
