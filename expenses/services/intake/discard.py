"""Setting an expense report aside: its claim lines (and their matches) removed, the report kept
(status DISCARDED) with its file, for the audit trail."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from expenses.audit import ExpenseAction
from expenses.models import Evidence, ExpenseLine, ExpenseReport, PeriodStatus, ReportStatus
from portal import policy
from portal.errors import StateConflict
from portal.models import User
from portal.policy import Action
from portal.services.audit import audit_record


@transaction.atomic
def expense_report_discard(*, report_id: int, user: User, ip: str | None = None) -> ExpenseReport:
    """Discard a report: a check still running finds it discarded and writes nothing; a checked
    report's lines are deleted. Refused (StateConflict) for a report already discarded, one
    being matched, and one whose lines finance has worked on (resolved or linked by hand), that
    are in a closed period, or that later claims were found to repeat."""
    locked = ExpenseReport.objects.select_for_update().select_related("company").get(pk=report_id)
    policy.require(locked.company, user, Action.EXPENSES_UPLOAD)
    if locked.status == ReportStatus.DISCARDED:
        raise StateConflict(_("This expense report is already discarded."), code="finished")
    if locked.status == ReportStatus.MATCHING:
        raise StateConflict(
            _("This expense report is being matched; discard it once the matching is done."),
            code="matching",
        )
    lines = ExpenseLine.objects.filter(report=locked)
    if lines.exclude(resolution="").exists() or lines.filter(evidence=Evidence.MANUAL).exists():
        raise StateConflict(
            _(
                "Finance has resolved or linked lines of this expense report; it cannot be "
                "discarded."
            ),
            code="resolved",
        )
    closed = sorted(
        {
            month.strftime("%Y-%m")
            for month in lines.filter(period__status=PeriodStatus.CLOSED).values_list(
                "period__month", flat=True
            )
        }
    )
    if closed:
        raise StateConflict(
            _(
                "Lines of this expense report are in closed period %(periods)s; it cannot be "
                "discarded."
            )
            % {"periods": ", ".join(closed)},
            code="period_closed",
        )
    repeated = (
        ExpenseLine.objects.filter(duplicate_of__report=locked)
        .exclude(report=locked)
        .values_list("report__file_name", flat=True)
        .distinct()
    )
    if repeated:
        raise StateConflict(
            _(
                "Claims of later expense reports (%(reports)s) repeat lines of this one; discard "
                "those first."
            )
            % {"reports": ", ".join(sorted(repeated))},
            code="referenced",
        )
    deleted, _by_model = lines.delete()
    status_before = locked.status
    locked.status = ReportStatus.DISCARDED
    locked.save(update_fields=["status"])
    audit_record(
        action=ExpenseAction.REPORT_DISCARDED,
        actor=user,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"file": locked.file_name, "status": status_before, "lines_deleted": deleted},
    )
    return locked
