"""Link a claim line by hand to a redemption of the company's cards, or unlink a match."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from billing.money import ZERO
from cards.models import Card, CardTransaction
from expenses.audit import ExpenseAction
from expenses.models import (
    Evidence,
    ExpenseLine,
    ExpenseMatch,
    LineState,
)
from expenses.services.resolution.base import (
    RETURN_KINDS,
    SPEND_KINDS,
    LineStateError,
    _audit,
    _clean_note,
    _label,
    _lock_line,
    _refuse_resolved,
    _refuse_unmatched,
    _state_snapshot,
)
from portal import policy
from portal.errors import DomainError
from portal.models import Company, User
from portal.policy import Action

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
    match = ExpenseMatch.objects.create(line=locked, transaction=tx, amount=amount, manual=True)
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
