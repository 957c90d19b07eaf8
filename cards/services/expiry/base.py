"""What the expiry services share: audit actions, which cards are bearer cards, the reason rule,
and the ledger movement that brings an expired card's balance back."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Account
from billing.money import ZERO
from billing.services.ledger import account_get, journal_post
from cards.models import (
    BreakageCard,
    BreakageStatus,
    Card,
    CardType,
)
from portal.errors import DomainError
from portal.models import register_audit_actions
from portal.services.audit import audit_record

SYSTEM_ACTOR = "system"


class ExpiryAction(models.TextChoices):
    CARDS_EXPIRED = "card.expired", gettext_lazy("Expired bearer cards past their date")
    CARD_REACTIVATED = "card.reactivated", gettext_lazy("Reactivated an expired card")
    BREAKAGE_PROPOSED = "breakage.proposed", gettext_lazy("Proposed a breakage decision")
    BREAKAGE_POSTED = "breakage.posted", gettext_lazy("Approved and posted a breakage decision")
    BREAKAGE_REJECTED = "breakage.rejected", gettext_lazy("Rejected a breakage decision")
    BREAKAGE_REVERSED = "breakage.reversed", gettext_lazy("Reversed a breakage decision")
    BREAKAGE_CARD_REVERSED = (
        "breakage.card_reversed",
        gettext_lazy("Reversed the breakage of a card that came back"),
    )


register_audit_actions(ExpiryAction)


def bearer_cards() -> QuerySet[Card]:
    """Cards of bearer products: the only ones that expire (registered cards never do). Test
    cards never do either: they are owed nothing, so there is no balance to move."""
    return Card.objects.live().filter(
        batch__product__card_type=CardType.BEARER, expires_at__isnull=False
    )


def reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            _("Give a reason: it is kept in the audit trail."), code="reason_required"
        )
    return reason


def breakage_card_reverse(*, card: Card) -> Decimal:
    """If ``card`` is covered by posted breakage, reverse that breakage for the card's amount
    (breakage income +b / expired-balance liability -b), recorded on its ``BreakageCard`` row;
    on the caller's transaction, with the card locked by the caller. Returns b (0 when not
    covered). Whatever brings an expired card's balance back, or ends it (reactivation,
    exchange, void), calls this first: the balance is owed again, so it is not income."""
    # Only the row is locked, not its decision: a reviewer holding the decision waits for this
    # card's lock, so locking the decision here would deadlock.
    covered = (
        BreakageCard.objects.select_for_update(of=("self",))
        .select_related("decision")
        .filter(card=card, live=True, decision__status=BreakageStatus.POSTED)
        .first()
    )
    if covered is None:
        return ZERO
    reversal = journal_post(
        kind="breakage_card_reversal",
        idempotency_key=f"breakage-card-reversal:{covered.pk}",
        postings=[
            (account_get(Account.Kind.BREAKAGE_INCOME), covered.amount),
            (account_get(Account.Kind.EXPIRED_LIABILITY), -covered.amount),
        ],
        reference=card.serial_display,
        memo=f"breakage {covered.decision.public_id} reversed for card {card.serial_display}",
    )
    BreakageCard.objects.filter(pk=covered.pk).update(
        live=False, reversed_at=timezone.now(), reversal_entry=reversal
    )
    audit_record(
        action=ExpiryAction.BREAKAGE_CARD_REVERSED,
        obj=covered.decision,
        actor_label=SYSTEM_ACTOR,
        changes={"card": card.serial_display, "amount": str(covered.amount)},
    )
    return covered.amount


def expired_balance_restore(
    *, card: Card, idempotency_key: str, reference: str = "", memo: str = ""
) -> Decimal:
    """An expired card's balance is owed on a live card again (the card was reactivated): on the
    caller's transaction, with the card locked by the caller. First its breakage, if any was
    posted, is reversed (``breakage_card_reverse``); then the balance moves from the
    expired-balance liability back to the card liability (expired-balance liability +B / card
    liability -B). Returns B."""
    amount = card.balance
    breakage_card_reverse(card=card)
    if amount > ZERO:
        journal_post(
            kind="card_unexpiry",
            idempotency_key=idempotency_key,
            postings=[
                (account_get(Account.Kind.EXPIRED_LIABILITY), amount),
                (account_get(Account.Kind.CARD_LIABILITY), -amount),
            ],
            reference=reference or card.serial_display,
            memo=memo or f"expired balance of card {card.serial_display} owed again",
        )
    return amount
