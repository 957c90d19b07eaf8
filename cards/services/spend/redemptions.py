"""Redemptions at a merchant (refunds and voids: ``spend.returns``): each locks the card,
re-checks it under the lock, writes one card transaction (``card_transaction_write``) and its
ledger entry, and an audit row, in one transaction.

- A redemption spends at most the card's available balance (balance less open holds); a card
  that cannot be used (frozen, voided, expired, a canary) fails like an unknown code.
- A refund gives back at most what is left of one redemption (its amount less earlier refunds
  and a void), to the card of that redemption, never to a voided card.
- A void gives back what is left of a redemption, once, by the merchant that made it, within
  ``MERCHANT_VOID_WINDOW_MINUTES`` (0: until the end of the redemption's day, Asia/Shanghai).

Each takes the merchant's Idempotency-Key (``spend.common``): the same request again answers the
first one's transaction, marked replayed.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.models import Account
from billing.services.ledger import account_code
from cards.audit import SpendAction
from cards.models import Card, CardStatus, CardTransaction, MerchantApiKey, MerchantLookupFailure
from cards.services.card_movements import card_event, card_lock, card_transaction_write
from cards.services.spend import throttle
from cards.services.spend.common import (
    InsufficientBalance,
    SpendResult,
    code_fact,
    ledger_post_spend,
    positive_amount,
    replay_transaction,
    request_digest,
    stored_key,
)
from cards.services.spend.lookup import (
    CardUnavailable,
    card_find,
    card_unusable_reason,
    lookup_failed,
)
from portal.db import prepared_cursor
from portal.services.audit import audit_record
from webhooks.events import EventType

Kind = CardTransaction.Kind
RETURNS = (Kind.REFUND, Kind.REDEEM_VOID)


def write_once(
    *, stored: str, digest: str, write: Callable[[], CardTransaction]
) -> CardTransaction | SpendResult:
    """Run ``write`` in a savepoint; when the unique Idempotency-Key index refuses its row
    because a concurrent request with the key committed first, that request's transaction, as
    a replay."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        replay = replay_transaction(stored=stored, digest=digest)
        if replay is None:
            raise  # another constraint (the balance CHECKs): a real error
        return replay


def spend_audit(action: str, tx: CardTransaction, key: MerchantApiKey, ip: str | None) -> None:
    audit_record(
        action=action,
        actor_label=f"merchant-key:{key.prefix}",
        obj=tx,
        ip=ip,
        changes={
            "serial": tx.card.serial_display,
            "amount": str(tx.amount),
            "balance_after": str(tx.balance_after),
            "merchant": key.merchant.name,
            "merchant_reference": tx.merchant_reference,
        },
    )


# --- Redemption ----------------------------------------------------------------------------------


def redemption_create(
    *,
    key: MerchantApiKey,
    code: object,
    amount: Decimal,
    merchant_reference: str,
    idempotency_key: str,
    ip: str | None = None,
) -> SpendResult:
    """Spend ``amount`` of the card with this code for the key's merchant. CardUnavailable (the
    same for every reason), LimitReached, InsufficientBalance or IdempotencyKeyReused."""
    amount = positive_amount(amount)
    stored = stored_key(key.merchant, idempotency_key)
    digest = request_digest(
        "redeem", code=code_fact(code), amount=str(amount), merchant_reference=merchant_reference
    )
    prefix = throttle.code_prefix(code) if isinstance(code, str) else ""
    try:
        card = card_find(code=code, subjects=throttle.block_subjects(key=key, ip=ip, prefix=prefix))
    except CardUnavailable as failure:
        # A retry after the card changed (frozen, voided) still answers what the first request
        # did. (A retry that finds the card goes through the statement below, which writes
        # nothing when the key was used, and then through the replay under the lock.)
        replay = replay_transaction(stored=stored, digest=digest)
        if replay is not None:
            return replay
        lookup_failed(
            key=key,
            failure=failure,
            endpoint=MerchantLookupFailure.Endpoint.REDEEM,
            ip=ip,
            prefix=prefix,
        )
        raise
    if connection.vendor == "postgresql":
        spent = _redeem_in_one_statement(
            card=card,
            key=key,
            amount=amount,
            merchant_reference=merchant_reference,
            stored=stored,
            digest=digest,
            ip=ip,
        )
        if spent is not None:
            return spent
    # Why the card cannot pay (under its lock), a replay, or the merchant's first redemption.
    try:
        return _redeem(
            card_id=card.pk,
            key=key,
            amount=amount,
            merchant_reference=merchant_reference,
            stored=stored,
            digest=digest,
            ip=ip,
        )
    except CardUnavailable as failure:  # the card changed between the look-up and the lock
        lookup_failed(
            key=key,
            failure=failure,
            endpoint=MerchantLookupFailure.Endpoint.REDEEM,
            ip=ip,
            prefix=prefix,
        )
        raise


# A redemption on PostgreSQL, in one statement: the card's update (which locks its row) with the
# rules of a redemption in its WHERE clause (usable, not past its date, enough available: the same
# as card_unusable_reason and the balance check under the lock; and the Idempotency-Key not used
# yet, so that a retry writes nothing and is answered by the replay under the lock), then the
# card transaction, the journal entry and its two postings (card liability +A, the merchant's
# payable -A; the accounts by code), and the audit row: what card_transaction_write,
# ledger_post_spend and audit_record write, each row as they write it. The row lock is held only
# from this statement to its COMMIT. When the card does not qualify nothing is written and the ORM
# path (under the lock) says why; an IntegrityError is the Idempotency-Key's unique index (a
# concurrent request with the key won) or an account not made yet (the merchant's first
# redemption): the ORM path again. A company with an enabled webhook endpoint subscribed to
# ``card.redeemed`` is also left to the ORM path, which records the event in its transaction
# (webhooks.services.emit): the check is a clause of this statement, so a company without one
# pays no round trip for it. The database's own guards stay in force: the card's CHECKs, the
# append-only triggers, and the deferred trigger that refuses a journal entry whose postings do not
# sum to zero.
_REDEEM_SQL = """
WITH card AS (
    UPDATE cards_card SET
        balance = balance - %(amount)s,
        status = CASE WHEN balance - %(amount)s = 0 THEN %(depleted)s ELSE status END,
        last_activity_at = %(now)s
    WHERE id = %(card)s AND NOT is_canary AND status IN (%(active)s, %(depleted)s)
        AND (expires_at IS NULL OR expires_at > %(now)s) AND balance - held >= %(amount)s
        AND NOT EXISTS (SELECT 1 FROM cards_cardtransaction WHERE idempotency_key = %(stored)s)
        AND NOT EXISTS (SELECT 1 FROM webhooks_webhookendpoint e JOIN cards_batch b
            ON b.company_id = e.company_id WHERE b.id = cards_card.batch_id
            AND e.disabled_at IS NULL AND e.event_types @> %(hooked)s::jsonb)
    RETURNING id, balance, status
), tx AS (
    INSERT INTO cards_cardtransaction (public_id, card_id, merchant_id, original_id, hold_id,
        request_digest, reason, actor_id, kind, amount, balance_after, merchant_reference,
        idempotency_key, created_at)
    SELECT %(tx)s, card.id, %(merchant)s, NULL, NULL, %(digest)s, '', NULL, %(kind)s,
        -%(amount)s, card.balance, %(reference)s, %(stored)s, %(now)s
    FROM card
    RETURNING id
), entry AS (
    INSERT INTO billing_journalentry (public_id, created_at, kind, memo, company_id, reference,
        idempotency_key)
    SELECT %(entry)s, %(now)s, %(entry_kind)s, %(memo)s, NULL, %(serial)s, %(entry_key)s FROM tx
    RETURNING id
), posting AS (
    INSERT INTO billing_posting (entry_id, account_id, amount)
    SELECT entry.id, line.account_id, line.amount FROM entry, (VALUES
        ((SELECT id FROM billing_account WHERE code = %(liability)s), %(amount)s::numeric),
        ((SELECT id FROM billing_account WHERE code = %(payable)s), -%(amount)s::numeric)
    ) AS line (account_id, amount)
), audit AS (
    INSERT INTO portal_auditevent (public_id, created_at, actor_id, actor_label, company_id,
        action, object_type, object_id, ip, changes)
    SELECT %(audit)s, %(now)s, NULL, %(actor_label)s, NULL, %(action)s, %(object_type)s,
        %(tx_text)s, %(ip)s::inet, jsonb_build_object(
            'serial', %(serial)s::text, 'amount', %(tx_amount)s::text,
            'balance_after', card.balance::text, 'merchant', %(merchant_name)s::text,
            'merchant_reference', %(reference)s::text)
    FROM card, tx
)
SELECT card.balance, card.status, tx.id FROM card, tx
"""


def _redeem_in_one_statement(
    *,
    card: Card,
    key: MerchantApiKey,
    amount: Decimal,
    merchant_reference: str,
    stored: str,
    digest: str,
    ip: str | None,
) -> SpendResult | None:
    """The redemption, when the card qualifies and its accounts exist; None for the ORM path."""
    merchant = key.merchant
    now = timezone.now()
    tx_id = uuid.uuid4()
    serial = card.serial_display
    params: dict[str, Any] = {
        "amount": amount,
        "now": now,
        "card": card.pk,
        "active": CardStatus.ACTIVE.value,
        "depleted": CardStatus.DEPLETED.value,
        "tx": tx_id,
        "merchant": merchant.pk,
        "digest": digest,
        "kind": Kind.REDEEM.value,
        "reference": merchant_reference,
        "stored": stored,
        "entry": uuid.uuid4(),
        "entry_kind": f"card_{Kind.REDEEM.value}",
        "memo": f"{Kind.REDEEM.value} {merchant.name}"[:200],
        "serial": serial,
        "entry_key": f"card-tx:{tx_id}",
        "liability": account_code(Account.Kind.CARD_LIABILITY),
        "payable": account_code(Account.Kind.MERCHANT_PAYABLE, holder=str(merchant.public_id)),
        "audit": uuid.uuid4(),
        "actor_label": f"merchant-key:{key.prefix}",
        "action": SpendAction.CARD_REDEEMED,
        "object_type": CardTransaction._meta.label_lower,
        "tx_text": str(tx_id),
        "ip": ip,
        "tx_amount": str(-amount),
        "merchant_name": merchant.name,
        "hooked": json.dumps([EventType.CARD_REDEEMED.value]),
    }
    try:
        # One statement is a transaction of its own (the deferred ledger trigger runs at its
        # end): outside any transaction, no BEGIN and COMMIT to send. Inside one (a test's),
        # durable as the ORM path is.
        with (
            transaction.atomic(durable=True)
            if connection.in_atomic_block or not connection.get_autocommit()
            else contextlib.nullcontext(),
            prepared_cursor() as cursor,
        ):
            cursor.execute(_REDEEM_SQL, params)
            row = cursor.fetchone()
    except IntegrityError:
        return replay_transaction(stored=stored, digest=digest)
    if row is None:
        return None
    card.balance, card.status, card.last_activity_at = row[0], row[1], now
    written = CardTransaction(
        id=row[2],
        public_id=tx_id,
        card=card,
        kind=Kind.REDEEM,
        amount=-amount,
        balance_after=row[0],
        merchant=merchant,
        merchant_reference=merchant_reference,
        idempotency_key=stored,
        request_digest=digest,
        reason="",
        created_at=now,
    )
    written._state.adding = False
    written._state.db = connection.alias
    return SpendResult(transaction=written, replayed=False)


@transaction.atomic(durable=True)
def _redeem(
    *,
    card_id: int,
    key: MerchantApiKey,
    amount: Decimal,
    merchant_reference: str,
    stored: str,
    digest: str,
    ip: str | None,
) -> SpendResult:
    card = card_lock(card_id)
    # A request with the same key that held the lock before us has committed by now.
    replay = replay_transaction(stored=stored, digest=digest)
    if replay is not None:
        return replay
    unusable = card_unusable_reason(card)
    if unusable is not None:
        raise CardUnavailable(unusable, card=card)
    available = card.balance - card.held
    if amount > available:
        raise InsufficientBalance(available=available)
    status_before = card.status
    written = write_once(
        stored=stored,
        digest=digest,
        write=lambda: card_transaction_write(
            card=card,
            kind=Kind.REDEEM,
            amount=-amount,
            merchant=key.merchant,
            merchant_reference=merchant_reference,
            idempotency_key=stored,
            request_digest=digest,
        ),
    )
    if isinstance(written, SpendResult):
        return written
    ledger_post_spend(
        tx=written, merchant=key.merchant, to_merchant=amount, card_status=status_before
    )
    spend_audit(SpendAction.CARD_REDEEMED, written, key, ip)
    card_event(card, EventType.CARD_REDEEMED, tx=written)
    return SpendResult(transaction=written, replayed=False)
