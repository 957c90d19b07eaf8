"""What every act of finance on a claim line shares: the locks, the checks, the refusals and
the audit row."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.models import CardTransaction
from expenses.models import (
    EXCEPTION_STATES,
    ExpenseLine,
    LineState,
    PeriodStatus,
    ReconciliationPeriod,
    Resolution,
)
from portal.errors import DomainError, StateConflict
from portal.models import User
from portal.services.audit import audit_record

NOTE_MAX = 500
# Card movements that are spend a claim can be backed by (a captured hold is a redemption).
SPEND_KINDS = (CardTransaction.Kind.REDEEM,)
# Movements that give part of a redemption back (they point at it through ``original``).
RETURN_KINDS = (CardTransaction.Kind.REFUND, CardTransaction.Kind.REDEEM_VOID)


class BulkAction:
    ACCEPT = "accept"
    REJECT = "reject"
    REOPEN = "reopen"
    ALL = (ACCEPT, REJECT, REOPEN)


class PeriodClosed(StateConflict):
    default_code = "period_closed"


class LineStateError(StateConflict):
    default_code = "line_state"


# --- Checks --------------------------------------------------------------------------------------


def _label(line: ExpenseLine) -> str:
    """How a person finds the line: its report and line number, and its row in the file."""
    return _("report %(report)s line %(line)s (row %(row)s)") % {
        "report": line.report_number,
        "line": line.line_number,
        "row": line.row_number,
    }


def _clean_note(note: str | None, *, required: bool) -> str:
    text = " ".join((note or "").split())
    if required and not text:
        raise DomainError(
            {"note": [_("Write a note saying why: it is kept with the claim and in the audit.")]},
            code="note_required",
        )
    if len(text) > NOTE_MAX:
        raise DomainError(
            {
                "note": [
                    _("The note has %(length)s characters; keep it to %(max)s.")
                    % {"length": len(text), "max": NOTE_MAX}
                ]
            },
            code="note_too_long",
        )
    return text


def period_lock(period_id: int) -> ReconciliationPeriod:
    """The period's row, locked until the end of the caller's transaction."""
    return (
        ReconciliationPeriod.objects.select_for_update(of=("self",))
        .select_related("company")
        .get(pk=period_id)
    )


def period_refuse_closed(period: ReconciliationPeriod) -> None:
    """Refused when the period (read under its lock) is closed: its claims are frozen."""
    if period.status == PeriodStatus.CLOSED:
        raise PeriodClosed(
            _(
                "The period %(month)s is closed: its claims and matches are frozen. An owner "
                "can re-open it, with a reason."
            )
            % {"month": f"{period.month:%Y-%m}"}
        )


def _lock_line(line: ExpenseLine) -> tuple[ReconciliationPeriod, ExpenseLine]:
    period = period_lock(line.period_id)
    period_refuse_closed(period)
    locked = ExpenseLine.objects.select_for_update(of=("self",)).get(pk=line.pk)
    if locked.company_id != period.company_id:  # a line is always of its period's company
        raise DomainError(_("This claim line is not of this company."), code="not_found")
    return period, locked


def _refuse_resolved(line: ExpenseLine) -> None:
    if line.resolution:
        raise LineStateError(
            _(
                "The claim %(line)s is already %(resolution)s. Re-open it first to change its "
                "resolution."
            )
            % {"line": _label(line), "resolution": line.get_resolution_display().lower()}
        )


def _refuse_unmatched(line: ExpenseLine) -> None:
    if line.state == LineState.PENDING:
        raise LineStateError(
            _("The claim %(line)s is not matched yet; wait until its report is matched.")
            % {"line": _label(line)}
        )


def _accept_problem(line: ExpenseLine) -> str:
    """Why the line cannot be accepted now ("" if it can)."""
    if line.resolution:
        return _("already %(resolution)s") % {"resolution": line.get_resolution_display().lower()}
    if line.state not in EXCEPTION_STATES:
        return _("not an exception (%(state)s)") % {"state": line.get_state_display()}
    return ""


def _reject_problem(line: ExpenseLine) -> str:
    """Why the line cannot be rejected now ("" if it can). A matched claim may be rejected too
    (spend that is not the company's business)."""
    if line.resolution:
        return _("already %(resolution)s") % {"resolution": line.get_resolution_display().lower()}
    if line.state == LineState.PENDING:
        return _("not matched yet")
    return ""


def _reopen_problem(line: ExpenseLine) -> str:
    return "" if line.resolution else _("not resolved")


def _state_snapshot(line: ExpenseLine) -> dict[str, Any]:
    return {
        "state": line.state,
        "resolution": line.resolution,
        "matched_amount": str(line.matched_amount),
        "difference": str(line.difference),
    }


def _audit(action: str, *, line: ExpenseLine, user: User, ip: str | None, **changes: Any) -> None:
    audit_record(
        action=action,
        actor=user,
        company=line.company,
        obj=line,
        ip=ip,
        changes={
            "report": line.report_number,
            "line": line.line_number,
            "employee": line.employee_id,
            "amount": str(line.amount),
            **changes,
        },
    )


def _resolve(line: ExpenseLine, *, resolution: str, note: str, user: User) -> None:
    line.resolution = resolution
    line.resolution_note = note
    line.resolved_by = user
    line.resolved_at = timezone.now()
    line.save(update_fields=["resolution", "resolution_note", "resolved_by", "resolved_at"])


def _reopen(line: ExpenseLine) -> None:
    line.resolution = Resolution.NONE
    line.resolution_note = ""
    line.resolved_by = None
    line.resolved_at = None
    line.save(update_fields=["resolution", "resolution_note", "resolved_by", "resolved_at"])


def open_exceptions(lines: Any) -> Any:
    """The lines (a queryset) that are exceptions nobody resolved yet."""
    return lines.filter(Q(state__in=EXCEPTION_STATES) & Q(resolution=Resolution.NONE))
