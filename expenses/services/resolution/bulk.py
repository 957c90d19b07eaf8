"""Many claim lines at once, all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    PeriodStatus,
    ReconciliationPeriod,
    Resolution,
)
from expenses.services.resolution.base import (
    BulkAction,
    _accept_problem,
    _audit,
    _clean_note,
    _label,
    _reject_problem,
    _reopen,
    _reopen_problem,
    _resolve,
)
from portal import policy
from portal.errors import DomainError
from portal.models import Company, User
from portal.policy import Action

# --- Many lines at once --------------------------------------------------------------------------

_PROBLEMS = {
    BulkAction.ACCEPT: _accept_problem,
    BulkAction.REJECT: _reject_problem,
    BulkAction.REOPEN: _reopen_problem,
}
_ACTIONS = {
    BulkAction.ACCEPT: ExpenseAction.LINE_ACCEPTED,
    BulkAction.REJECT: ExpenseAction.LINE_REJECTED,
    BulkAction.REOPEN: ExpenseAction.LINE_REOPENED,
}


def _bulk_refusal(problems: Sequence[str], action: str) -> DomainError:
    shown = problems[:20]
    more = len(problems) - len(shown)
    lines = list(shown)
    if more:
        lines.append(
            ngettext("… and %(count)s more line.", "… and %(count)s more lines.", more)
            % {"count": more}
        )
    return DomainError(
        {
            "lines": [
                ngettext(
                    "Nothing was changed: %(count)s line cannot be %(action)s.",
                    "Nothing was changed: %(count)s lines cannot be %(action)s.",
                    len(problems),
                )
                % {"count": len(problems), "action": _bulk_done(action)},
                *lines,
            ]
        },
        code="bulk_refused",
    )


def _bulk_done(action: str) -> str:
    return {
        BulkAction.ACCEPT: pgettext("claim lines cannot be", "accepted"),
        BulkAction.REJECT: pgettext("claim lines cannot be", "rejected"),
        BulkAction.REOPEN: pgettext("claim lines cannot be", "re-opened"),
    }[action]


def _line_ids(line_ids: Iterable[Any]) -> tuple[list[str], list[str]]:
    """The distinct ids asked for, as UUID text, and those that are not UUIDs at all."""
    good: list[str] = []
    bad: list[str] = []
    for value in dict.fromkeys(str(value).strip() for value in line_ids):
        if not value:
            continue
        try:
            good.append(str(uuid.UUID(value)))
        except ValueError:
            bad.append(value[:40])
    return good, bad


@transaction.atomic
def lines_bulk_resolve(
    *,
    company: Company,
    line_ids: Iterable[Any],
    action: str,
    user: User,
    note: str,
    ip: str | None = None,
) -> list[ExpenseLine]:
    """Accept, reject or re-open many claim lines of the company (by public id) at once: all
    of them or none. Refused, naming each offending line, when one is not the company's, is in
    a closed period or its state does not allow the act. One audit row per line."""
    if action not in BulkAction.ALL:
        raise DomainError(
            {"action": [_("Choose accept, reject or re-open.")]}, code="invalid_choice"
        )
    policy.require(company, user, Action.EXPENSES_RESOLVE)
    text = _clean_note(note, required=action != BulkAction.REOPEN)
    wanted, malformed = _line_ids(line_ids)
    if not wanted and not malformed:
        raise DomainError({"lines": [_("Choose at least one claim line.")]}, code="no_lines")
    found = list(
        ExpenseLine.objects.filter(company=company, public_id__in=wanted).values_list(
            "pk", "period_id", "public_id"
        )
    )
    known = {str(public_id) for _pk, _period, public_id in found}
    problems = [
        _("Claim line %(id)s: not found in your company.") % {"id": value}
        for value in [*malformed, *wanted]
        if value not in known
    ]
    periods = {
        period.pk: period
        for period in (
            ReconciliationPeriod.objects.select_for_update(of=("self",))
            .filter(pk__in=sorted({period_id for _pk, period_id, _id in found}))
            .order_by("pk")
        )
    }
    lines = list(
        ExpenseLine.objects.select_for_update(of=("self",))
        .filter(pk__in=[pk for pk, _period, _id in found])
        .order_by("pk")
    )
    check = _PROBLEMS[action]
    for line in lines:
        period = periods[line.period_id]
        if period.status == PeriodStatus.CLOSED:
            problem = _("its period %(month)s is closed") % {"month": f"{period.month:%Y-%m}"}
        else:
            problem = check(line)
        if problem:
            problems.append(
                _("Claim %(line)s: %(problem)s.") % {"line": _label(line), "problem": problem}
            )
    if problems:
        raise _bulk_refusal(problems, action)
    for line in lines:
        if action == BulkAction.REOPEN:
            was = {"resolution": line.resolution, "note": line.resolution_note}
            _reopen(line)
            _audit(
                _ACTIONS[action], line=line, user=user, ip=ip, previous=was, note=text, bulk=True
            )
        else:
            resolution = Resolution.ACCEPTED if action == BulkAction.ACCEPT else Resolution.REJECTED
            _resolve(line, resolution=resolution, note=text, user=user)
            _audit(
                _ACTIONS[action],
                line=line,
                user=user,
                ip=ip,
                state=line.state,
                note=text,
                bulk=True,
            )
    return lines
