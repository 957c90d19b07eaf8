"""The one writer of a card's balance after issuance: every redemption, refund, void, expiry,
reactivation and reissue goes through ``card_transaction_write`` on a card locked with
``card_lock``. The ledger entry that goes with a movement is the caller's (it knows the accounts);
both happen in the caller's transaction.

Rules kept here, for every caller:
- balance = face value + the card's transactions; ``held`` (open holds) never exceeds it, and the
  database refuses a negative balance or holds over the balance (CHECK constraints);
- a card whose balance reaches zero by spending is ``depleted``; money coming back (a refund, a
  voided redemption) makes a depleted card ``active`` again;
- transactions are append-only (the database refuses UPDATE and DELETE).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from cards.models import Batch, Card, CardHold, CardStatus, CardTransaction, Merchant
from portal.models import User
from webhooks.services import emit

ZERO = Decimal("0.00")
# Kinds that spend from the card and those that give money back to it.
SPENDING = {CardTransaction.Kind.REDEEM}
RETURNING = {CardTransaction.Kind.REFUND, CardTransaction.Kind.REDEEM_VOID}


def card_lock(card_id: int) -> Card:
    """The card's row, locked until the end of the caller's transaction (``FOR UPDATE``)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("card_lock needs a transaction")
    return Card.objects.select_for_update().get(pk=card_id)


def card_transaction_write(
    *,
    card: Card,
    kind: str,
    amount: Decimal,
    merchant: Merchant | None = None,
    original: CardTransaction | None = None,
    hold: CardHold | None = None,
    merchant_reference: str = "",
    idempotency_key: str | None = None,
    request_digest: str = "",
    reason: str = "",
    actor: User | None = None,
    status: str | None = None,
    at: datetime | None = None,
) -> CardTransaction:
    """Move ``amount`` (negative spends, positive gives back, zero for a status change) on a card
    the caller has locked, set its new status (``status``, or the spending rule above), and write
    the transaction with the balance after. Saves only the card fields it changes."""
    now = at or timezone.now()
    card.balance = card.balance + amount
    if status is not None:
        card.status = status
    elif kind in SPENDING and card.balance == ZERO:
        card.status = CardStatus.DEPLETED
    elif kind in RETURNING and card.status == CardStatus.DEPLETED and card.balance > ZERO:
        card.status = CardStatus.ACTIVE
    card.last_activity_at = now
    card.save(update_fields=["balance", "status", "last_activity_at"])
    return CardTransaction.objects.create(
        card=card,
        kind=kind,
        amount=amount,
        balance_after=card.balance,
        merchant=merchant,
        original=original,
        hold=hold,
        merchant_reference=merchant_reference,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
        reason=reason[:200],
        actor=actor,
        created_at=now,
    )


def card_event(
    card: Card,
    event_type: str,
    *,
    tx: CardTransaction | None = None,
    company_id: int | None = None,
    **extra: object,
) -> None:
    """Record a webhook event about the buyer's card, in the caller's transaction (after its
    movement, so the balance and status are the new ones)."""
    if company_id is None:
        company_id = Batch.objects.values_list("company_id", flat=True).get(pk=card.batch_id)
    data: dict[str, object] = {
        "serial": card.serial_display,
        "status": card.status,
        "balance": str(card.balance),
    }
    if tx is not None:
        data.update(
            {
                "transaction": str(tx.public_id),
                "kind": tx.kind,
                "amount": str(tx.amount),
                "merchant": tx.merchant.name if tx.merchant_id and tx.merchant else None,
                "merchant_reference": tx.merchant_reference,
                "at": tx.created_at,
            }
        )
    emit(company_id, event_type, card, {**data, **extra})
