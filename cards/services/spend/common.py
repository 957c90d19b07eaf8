"""What the spend services share: their refusals, idempotency keys, and the ledger entries of
money moving between a card and a merchant.

Idempotency: a merchant's ``Idempotency-Key`` is stored on the row the request creates (a card
transaction, or a hold), namespaced by the merchant (``m<id>:<key>``), with a digest of the
request. The unique index decides: the insert runs in a savepoint, and an IntegrityError means
another request with the key got there first, whose row is then replayed. A replay of the same
request answers what the first one answered; the same key with another request is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from billing.models import Account
from billing.money import CENT, ZERO, format_cny
from billing.services.ledger import account_get, journal_post
from cards import codes
from cards.models import CardStatus, CardTransaction, Merchant
from portal.db import prepared_cursor
from portal.errors import DomainError, StateConflict

MAX_IDEMPOTENCY_COLUMN = 128


class IdempotencyKeyReused(DomainError):
    default_code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            _(
                "This Idempotency-Key was used with a different request. Use a new key for a "
                "new request; resend the original request unchanged to get its answer."
            )
        )


class InsufficientBalance(StateConflict):
    """The card's available balance (balance less open holds) is smaller than the amount."""

    default_code = "insufficient_balance"

    def __init__(self, *, available: Decimal) -> None:
        super().__init__(
            _(
                "The card has only %(available)s available; redeem at most that amount, or "
                "take the rest in another payment."
            )
            % {"available": format_cny(available)}
        )
        self.available = available


@dataclass(frozen=True)
class SpendResult:
    """A card transaction a request created, or found again for a replay."""

    transaction: CardTransaction
    replayed: bool


def stored_key(merchant: Merchant, key: str) -> str:
    """The merchant's Idempotency-Key as stored: namespaced by the merchant, and digested when
    that would not fit the column."""
    stored = f"m{merchant.pk}:{key}"
    if len(stored) <= MAX_IDEMPOTENCY_COLUMN:
        return stored
    return f"m{merchant.pk}:#{hashlib.sha256(key.encode()).hexdigest()}"


def request_digest(operation: str, **facts: Any) -> str:
    """SHA-256 of what a request asks: the operation and its facts, as canonical JSON."""
    canonical = json.dumps(
        {"operation": operation, **facts}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def code_fact(code: object) -> str:
    """A request's code, for its digest: the same card however the code was typed (spaces,
    hyphens, case), and never the code itself."""
    if not isinstance(code, str):
        return ""
    try:
        return codes.code_digest(codes.normalize_code(code)).hex()
    except codes.InvalidCode:
        return hashlib.sha256(code.encode()).hexdigest()


def replay_transaction(*, stored: str, digest: str) -> SpendResult | None:
    """The transaction an earlier request with this key created (IdempotencyKeyReused when it
    asked something else), or None. Nearly every request misses: the look-up is one narrow
    statement on the unique index, and the row with its card, redemption and hold is read only
    on a match."""
    with prepared_cursor() as cursor:
        cursor.execute(_REPLAY_SQL, [stored])
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != digest:
        raise IdempotencyKeyReused()
    existing = CardTransaction.objects.select_related("card", "original", "hold").get(pk=row[0])
    return SpendResult(transaction=existing, replayed=True)


_REPLAY_SQL = "SELECT id, request_digest FROM cards_cardtransaction WHERE idempotency_key = %s"


def positive_amount(amount: Decimal) -> Decimal:
    """An amount in cents, more than 0.00, in one written form (100 and 100.00 are the same
    request)."""
    if amount <= ZERO:
        raise DomainError({"amount": [_("The amount must be more than 0.00.")]}, code="min_value")
    if amount != amount.quantize(CENT):
        raise DomainError(
            {"amount": [_("The amount must be in cents: at most 2 decimal places.")]},
            code="decimals",
        )
    return amount.quantize(CENT)


def liability_account(card_status: str) -> Account:
    """Where a card's balance is owed: an expired card's balance sits in the expired-balance
    liability until it is reactivated or exchanged."""
    if card_status == CardStatus.EXPIRED:
        return account_get(Account.Kind.EXPIRED_LIABILITY)
    return account_get(Account.Kind.CARD_LIABILITY)


def ledger_post_spend(
    *, tx: CardTransaction, merchant: Merchant, to_merchant: Decimal, card_status: str
) -> None:
    """The entry of one card transaction with a merchant: ``to_merchant`` (positive for a
    redemption, negative for a refund or a voided redemption) moves from the card liability to
    the merchant's settlement payable."""
    payable = account_get(Account.Kind.MERCHANT_PAYABLE, holder=str(merchant.public_id))
    journal_post(
        kind=f"card_{tx.kind}",
        idempotency_key=f"card-tx:{tx.public_id}",
        postings=[(liability_account(card_status), to_merchant), (payable, -to_merchant)],
        reference=tx.card.serial_display,
        memo=f"{tx.kind} {merchant.name}"[:200],
    )
