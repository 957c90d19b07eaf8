"""Finance's answer to the exception queue: accept or reject a claim line with a note, link it by
hand to a card transaction of the company (or unlink a match), re-open a resolution, and the
same for many lines at once.

Every act takes the period's row lock, then the lines' (primary-key order), then the card's of
a linked transaction, in that order, and re-checks under them: the period is open (a closed
period is frozen: ``closing.period_close`` takes the same period lock), the line belongs to the
company, its state allows the act. Each act writes one audit row per line (who, when, why) in the
same transaction. Refusals are ``DomainError``s with a code the API answers with.

A line's matches are its evidence: ``matched_amount`` is their sum and ``difference`` the claim
less it. Linking or unlinking re-states the line from its matches (``_restate``); a hand-made
match makes the line ``matched`` when it backs the whole claim, ``amount_differs`` otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.money import ZERO
from cards.models import Card, CardTransaction
from expenses.audit import ExpenseAction
from expenses.models import (
    EXCEPTION_STATES,
    Evidence,
    ExpenseLine,
    ExpenseMatch,
    LineState,
    PeriodStatus,
    ReconciliationPeriod,
    Resolution,
)
from portal import policy
from portal.errors import DomainError, StateConflict
from portal.models import Company, User
from portal.policy import Action
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


# --- Accept, reject, re-open ---------------------------------------------------------------------


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


# --- Link and unlink -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendLeft:
    """What is left of a redemption for claims: its amount, less refunds and a void, less
    what claim lines already took."""

    spent: Decimal
    returned: Decimal
    claimed: Decimal

    @property
    def available(self) -> Decimal:
        return max(self.spent - self.returned - self.claimed, ZERO)


def spend_left(tx: CardTransaction) -> SpendLeft:
    returned = (
        CardTransaction.objects.filter(original=tx, kind__in=RETURN_KINDS).aggregate(
            s=Sum("amount")
        )["s"]
        or ZERO
    )
    claimed = ExpenseMatch.objects.filter(transaction=tx).aggregate(s=Sum("amount"))["s"] or ZERO
    return SpendLeft(spent=-tx.amount, returned=returned, claimed=claimed)


def company_spend(company: Company) -> Any:
    """The company's card spend a claim can be linked to (redemptions of its cards)."""
    return CardTransaction.objects.filter(card__batch__company=company, kind__in=SPEND_KINDS)


def _foreign_transaction() -> DomainError:
    return DomainError(
        {"transaction": [_("No card spend of your company has this id.")]},
        code="unknown_transaction",
    )


def _restate(line: ExpenseLine) -> None:
    """The line's amounts, card and state again from its matches (after a link or unlink)."""
    matches = list(line.matches.select_related("transaction").order_by("pk"))
    total = sum((m.amount for m in matches), ZERO)
    line.matched_amount = total
    line.difference = line.amount - total
    if not matches:
        line.state = LineState.NO_SPEND
        line.evidence = Evidence.NONE
        line.card = None
        line.duplicate_of = None
    elif any(m.manual for m in matches):
        line.state = LineState.MATCHED if line.difference == ZERO else LineState.AMOUNT_DIFFERS
        line.evidence = Evidence.MANUAL
        line.card_id = matches[0].transaction.card_id
        line.duplicate_of = None
    elif line.state == LineState.MATCHED and line.difference != ZERO:
        line.state = LineState.AMOUNT_DIFFERS
    line.save(
        update_fields=[
            "matched_amount",
            "difference",
            "state",
            "evidence",
            "card",
            "duplicate_of",
        ]
    )


@transaction.atomic
def line_link(
    *,
    line: ExpenseLine,
    transaction: CardTransaction,
    user: User,
    note: str,
    ip: str | None = None,
) -> ExpenseMatch:
    """Back the claim by hand with (part of) a redemption of the company's cards: a manual
    match of what the claim still lacks, at most what is left of the redemption. Refused for
    another company's transaction (as for an unknown one), for a redemption claimed in full,
    for a resolved line (re-open it first) and for a line already backed in full."""
    policy.require(line.company, user, Action.EXPENSES_RESOLVE)
    text = _clean_note(note, required=True)
    tx = transaction
    if not company_spend(line.company).filter(pk=tx.pk).exists():
        raise _foreign_transaction()
    _period, locked = _lock_line(line)
    _refuse_unmatched(locked)
    _refuse_resolved(locked)
    # The card's lock serialises every claim on its redemptions (card transactions are
    # append-only: the application may not lock their rows).
    Card.objects.select_for_update().filter(pk=tx.card_id).first()
    if locked.matches.filter(transaction=tx).exists():
        raise LineStateError(
            _("The claim %(line)s is already linked to this transaction.")
            % {"line": _label(locked)}
        )
    wanting = locked.amount - locked.matched_amount
    if wanting <= ZERO:
        raise LineStateError(
            _(
                "The claim %(line)s is already backed in full (%(matched)s). Unlink a "
                "transaction first to link another."
            )
            % {"line": _label(locked), "matched": locked.matched_amount}
        )
    left = spend_left(tx)
    if left.available <= ZERO:
        raise DomainError(
            {
                "transaction": [
                    _(
                        "This transaction (%(amount)s) is already claimed in full by other "
                        "claim lines; unlink one of them first."
                    )
                    % {"amount": left.spent}
                ]
            },
            code="fully_claimed",
        )
    before = _state_snapshot(locked)
    amount = min(wanting, left.available)
    match = ExpenseMatch.objects.create(
        line=locked, transaction=tx, company=locked.company, amount=amount, manual=True
    )
    _restate(locked)
    locked.resolution_note = text
    locked.save(update_fields=["resolution_note"])
    _audit(
        ExpenseAction.LINE_LINKED,
        line=locked,
        user=user,
        ip=ip,
        transaction=str(tx.public_id),
        matched=str(amount),
        before=before,
        after=_state_snapshot(locked),
        note=text,
    )
    return match


@transaction.atomic
def line_unlink(
    *,
    line: ExpenseLine,
    transaction: CardTransaction,
    user: User,
    note: str = "",
    ip: str | None = None,
) -> ExpenseLine:
    """Remove the line's match to this transaction (made by matching or by hand); the line is
    re-stated from the matches left. Refused for a resolved line (re-open it first)."""
    policy.require(line.company, user, Action.EXPENSES_RESOLVE)
    text = _clean_note(note, required=False)
    tx = transaction
    _period, locked = _lock_line(line)
    _refuse_resolved(locked)
    Card.objects.select_for_update().filter(pk=tx.card_id).first()
    match = locked.matches.filter(transaction=tx).first()
    if match is None:
        raise LineStateError(
            _("The claim %(line)s is not linked to this transaction.") % {"line": _label(locked)}
        )
    before = _state_snapshot(locked)
    removed = {"amount": str(match.amount), "manual": match.manual}
    match.delete()
    _restate(locked)
    _audit(
        ExpenseAction.LINE_UNLINKED,
        line=locked,
        user=user,
        ip=ip,
        transaction=str(tx.public_id),
        removed=removed,
        before=before,
        after=_state_snapshot(locked),
        note=text,
    )
    return locked


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
        BulkAction.ACCEPT: _("accepted"),
        BulkAction.REJECT: _("rejected"),
        BulkAction.REOPEN: _("re-opened"),
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


def open_exceptions(lines: Any) -> Any:
    """The lines (a queryset) that are exceptions nobody resolved yet."""
    return lines.filter(Q(state__in=EXCEPTION_STATES) & Q(resolution=Resolution.NONE))
