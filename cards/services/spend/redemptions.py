"""Redemptions, refunds and voided redemptions at a merchant: each locks the card, re-checks it
under the lock, writes one card transaction (``card_transaction_write``) and its ledger entry, and
an audit row, in one transaction.

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

import datetime
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO, format_cny
from cards.audit import SpendAction
from cards.models import Card, CardStatus, CardTransaction, MerchantApiKey, MerchantLookupFailure
from cards.services.card_movements import card_lock, card_transaction_write
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
    card_look_up,
    card_unusable_reason,
    lookup_failed,
)
from portal import days
from portal.errors import StateConflict
from portal.services.audit import audit_record

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


def _audit(action: str, tx: CardTransaction, key: MerchantApiKey, ip: str | None) -> None:
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
    # A retry after the card changed (spent, frozen) still answers what the first request did.
    replay = replay_transaction(stored=stored, digest=digest)
    if replay is not None:
        return replay
    card = card_look_up(key=key, code=code, endpoint=MerchantLookupFailure.Endpoint.REDEEM, ip=ip)
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
        prefix = throttle.code_prefix(code) if isinstance(code, str) else ""
        lookup_failed(
            key=key,
            failure=failure,
            endpoint=MerchantLookupFailure.Endpoint.REDEEM,
            ip=ip,
            prefix=prefix,
        )
        raise


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
    _audit(SpendAction.CARD_REDEEMED, written, key, ip)
    return SpendResult(transaction=written, replayed=False)


# --- What a refund or a void finds ---------------------------------------------------------------


def redemption_of(*, key: MerchantApiKey, redemption_id: uuid.UUID | str) -> CardTransaction:
    """One redemption of the key's merchant; any other (another merchant's) is a 404."""
    try:
        return CardTransaction.objects.select_related("card").get(
            public_id=redemption_id, kind=Kind.REDEEM, merchant=key.merchant
        )
    except (CardTransaction.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def left_to_return(redemption: CardTransaction) -> Decimal:
    """What of a redemption has not come back to the card by refunds or a void. Exact under the
    card's lock: every return of a redemption is written on its card."""
    returned = (
        CardTransaction.objects.filter(original=redemption, kind__in=RETURNS).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )
    return -redemption.amount - returned


def _refuse_voided_card(card: Card) -> None:
    if card.status == CardStatus.VOIDED:
        raise StateConflict(
            _(
                "The card was voided: nothing can be returned to it. The issuer refunds its "
                "buyer instead; give the customer their money back another way."
            ),
            code="card_voided",
        )


# --- Refund --------------------------------------------------------------------------------------


def refund_create(
    *,
    key: MerchantApiKey,
    redemption_id: uuid.UUID | str,
    amount: Decimal,
    merchant_reference: str = "",
    idempotency_key: str,
    ip: str | None = None,
) -> SpendResult:
    """Give ``amount`` of one of the merchant's redemptions back to its card."""
    amount = positive_amount(amount)
    stored = stored_key(key.merchant, idempotency_key)
    digest = request_digest(
        "refund",
        redemption=str(redemption_id),
        amount=str(amount),
        merchant_reference=merchant_reference,
    )
    replay = replay_transaction(stored=stored, digest=digest)
    if replay is not None:
        return replay
    redemption = redemption_of(key=key, redemption_id=redemption_id)
    with transaction.atomic(durable=True):
        card = card_lock(redemption.card_id)
        replay = replay_transaction(stored=stored, digest=digest)
        if replay is not None:
            return replay
        _refuse_voided_card(card)
        left = left_to_return(redemption)
        if amount > left:
            raise StateConflict(
                _(
                    "Refunds of this redemption can total at most what was redeemed; "
                    "%(left)s of it is left to refund."
                )
                % {"left": format_cny(left)},
                code="refund_exceeds_redemption",
            )
        status_before = card.status
        written = write_once(
            stored=stored,
            digest=digest,
            write=lambda: card_transaction_write(
                card=card,
                kind=Kind.REFUND,
                amount=amount,
                merchant=key.merchant,
                original=redemption,
                merchant_reference=merchant_reference or redemption.merchant_reference,
                idempotency_key=stored,
                request_digest=digest,
            ),
        )
        if isinstance(written, SpendResult):
            return written
        ledger_post_spend(
            tx=written, merchant=key.merchant, to_merchant=-amount, card_status=status_before
        )
        _audit(SpendAction.CARD_REFUNDED, written, key, ip)
        return SpendResult(transaction=written, replayed=False)


# --- Void ----------------------------------------------------------------------------------------


def void_deadline(redemption: CardTransaction) -> datetime.datetime:
    """Until when the merchant may void this redemption."""
    minutes = int(settings.MERCHANT_VOID_WINDOW_MINUTES)
    if minutes > 0:
        return redemption.created_at + datetime.timedelta(minutes=minutes)
    return days.day_end(days.local(redemption.created_at).date())


def redemption_void(
    *,
    key: MerchantApiKey,
    redemption_id: uuid.UUID | str,
    idempotency_key: str,
    ip: str | None = None,
) -> SpendResult:
    """Undo one of the merchant's redemptions: what is left of it goes back to the card."""
    stored = stored_key(key.merchant, idempotency_key)
    digest = request_digest("void", redemption=str(redemption_id))
    replay = replay_transaction(stored=stored, digest=digest)
    if replay is not None:
        return replay
    redemption = redemption_of(key=key, redemption_id=redemption_id)
    if timezone.now() >= void_deadline(redemption):
        raise StateConflict(
            _("A redemption can be voided only until %(deadline)s; refund it instead.")
            % {"deadline": days.local(void_deadline(redemption)).strftime("%Y-%m-%d %H:%M")},
            code="void_window_closed",
        )
    with transaction.atomic(durable=True):
        card = card_lock(redemption.card_id)
        replay = replay_transaction(stored=stored, digest=digest)
        if replay is not None:
            return replay
        if CardTransaction.objects.filter(original=redemption, kind=Kind.REDEEM_VOID).exists():
            raise StateConflict(_("This redemption is already voided."), code="redemption_voided")
        _refuse_voided_card(card)
        left = left_to_return(redemption)
        if left <= ZERO:
            raise StateConflict(
                _("This redemption was refunded in full: there is nothing left to void."),
                code="redemption_refunded",
            )
        status_before = card.status
        written = write_once(
            stored=stored,
            digest=digest,
            write=lambda: card_transaction_write(
                card=card,
                kind=Kind.REDEEM_VOID,
                amount=left,
                merchant=key.merchant,
                original=redemption,
                merchant_reference=redemption.merchant_reference,
                idempotency_key=stored,
                request_digest=digest,
            ),
        )
        if isinstance(written, SpendResult):
            return written
        ledger_post_spend(
            tx=written, merchant=key.merchant, to_merchant=-left, card_status=status_before
        )
        _audit(SpendAction.REDEMPTION_VOIDED, written, key, ip)
        return SpendResult(transaction=written, replayed=False)
