"""Refunds and voided redemptions at a merchant (the rules are in ``spend.redemptions``'s
docstring): each locks the card of the redemption, re-checks under the lock, writes one card
transaction and its ledger entry, and an audit row, in one transaction.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO, format_cny
from cards.audit import SpendAction
from cards.models import Card, CardStatus, CardTransaction, MerchantApiKey
from cards.services.card_movements import card_event, card_lock, card_transaction_write
from cards.services.spend.common import (
    SpendResult,
    ledger_post_spend,
    positive_amount,
    replay_transaction,
    request_digest,
    stored_key,
)
from cards.services.spend.redemptions import RETURNS, Kind, spend_audit, write_once
from portal import days
from portal.errors import StateConflict
from webhooks.events import EventType

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
        spend_audit(SpendAction.CARD_REFUNDED, written, key, ip)
        card_event(card, EventType.CARD_REFUNDED, tx=written)
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
        spend_audit(SpendAction.REDEMPTION_VOIDED, written, key, ip)
        card_event(card, EventType.CARD_REFUNDED, tx=written)
        return SpendResult(transaction=written, replayed=False)
