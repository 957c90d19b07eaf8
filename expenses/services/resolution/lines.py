"""Accept, reject, re-open one claim line."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    Resolution,
)
from expenses.services.resolution.base import (
    LineStateError,
    _accept_problem,
    _audit,
    _clean_note,
    _label,
    _lock_line,
    _refuse_resolved,
    _refuse_unmatched,
    _reopen,
    _resolve,
)
from portal import policy
from portal.models import User
from portal.policy import Action


@transaction.atomic
def line_accept(*, line: ExpenseLine, user: User, note: str, ip: str | None = None) -> ExpenseLine:
    """Accept an exception (the claim stands as filed), with a note saying why."""
    policy.require(line.company, user, Action.EXPENSES_RESOLVE)
    text = _clean_note(note, required=True)
    _period, locked = _lock_line(line)
    _refuse_unmatched(locked)
    _refuse_resolved(locked)
    problem = _accept_problem(locked)
    if problem:
        raise LineStateError(
            _("The claim %(line)s cannot be accepted: %(problem)s.")
            % {"line": _label(locked), "problem": problem}
        )
    _resolve(locked, resolution=Resolution.ACCEPTED, note=text, user=user)
    _audit(
        ExpenseAction.LINE_ACCEPTED, line=locked, user=user, ip=ip, state=locked.state, note=text
    )
    return locked


@transaction.atomic
def line_reject(*, line: ExpenseLine, user: User, note: str, ip: str | None = None) -> ExpenseLine:
    """Reject a claim (it will not be booked), with a note saying why."""
    policy.require(line.company, user, Action.EXPENSES_RESOLVE)
    text = _clean_note(note, required=True)
    _period, locked = _lock_line(line)
    _refuse_unmatched(locked)
    _refuse_resolved(locked)
    _resolve(locked, resolution=Resolution.REJECTED, note=text, user=user)
    _audit(
        ExpenseAction.LINE_REJECTED, line=locked, user=user, ip=ip, state=locked.state, note=text
    )
    return locked


@transaction.atomic
def line_reopen(
    *, line: ExpenseLine, user: User, note: str = "", ip: str | None = None
) -> ExpenseLine:
    """Undo an acceptance or a rejection: the line is open again (an exception, unless it is
    matched)."""
    policy.require(line.company, user, Action.EXPENSES_RESOLVE)
    text = _clean_note(note, required=False)
    _period, locked = _lock_line(line)
    if not locked.resolution:
        raise LineStateError(
            _("The claim %(line)s is not resolved: there is nothing to re-open.")
            % {"line": _label(locked)}
        )
    was = {"resolution": locked.resolution, "note": locked.resolution_note}
    _reopen(locked)
    _audit(ExpenseAction.LINE_REOPENED, line=locked, user=user, ip=ip, previous=was, note=text)
    return locked
