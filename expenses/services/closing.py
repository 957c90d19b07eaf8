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

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    LineState,
    PeriodReport,
    PeriodStatus,
    ReconciliationPeriod,
    ReportStatus,
)
from expenses.services.figures import month_text, period_figures, unclaimed_spend_of_month
from expenses.services.resolution import (
    open_exceptions,
    period_lock,
    period_refuse_closed,
)
from portal import policy
from portal.errors import DomainError, StateConflict
from portal.models import User
from portal.policy import Action
from portal.services.audit import audit_record

REASON_MAX = 500
REPORT_FORMATS = ("xlsx", "pdf")
BUSY_REPORT_STATUSES = (ReportStatus.RECEIVED, ReportStatus.CHECKING, ReportStatus.MATCHING)


class PeriodNotReady(StateConflict):
    """The period still has work to do before it can close (the message says what)."""

    default_code = "period_not_ready"


class PeriodNotClosed(StateConflict):
    default_code = "period_open"


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


__all__ = [
    "PeriodNotClosed",
    "PeriodNotReady",
    "period_close",
    "period_figures",
    "period_reopen",
    "unclaimed_spend_of_month",
]
