"""Holds (authorisations): a merchant reserves part of a card's balance, then captures all or
part of it (a redemption linked to the hold; the rest is released) or releases it. A hold that is
neither ends by itself at ``expires_at`` (``MERCHANT_HOLD_MINUTES`` after it was made): Celery
beat releases it (``holds_expire``), and a capture after that moment is refused even before the
sweep has run.

Open holds count against the card's available balance: ``Card.held`` is their sum, changed only
under the card's lock (the card first, then the hold: one order everywhere), and the database
keeps it within the balance.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import format_cny
from cards.audit import SpendAction
from cards.models import (
    Card,
    CardHold,
    CardStatus,
    CardTransaction,
    HoldStatus,
    MerchantApiKey,
    MerchantLookupFailure,
)
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.spend import throttle
from cards.services.spend.common import (
    IdempotencyKeyReused,
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
from cards.services.spend.redemptions import write_once
from portal.errors import DomainError, StateConflict
from portal.services.audit import audit_record


class HoldExpired(StateConflict):
    default_code = "hold_expired"

    def __init__(self) -> None:
        super().__init__(
            _(
                "The hold expired and its amount was released; put a new hold on the card or "
                "redeem it directly."
            )
        )


def _audit_hold(action: str, hold: CardHold, ip: str | None, label: str) -> None:
    audit_record(
        action=action,
        actor_label=label,
        obj=hold,
        ip=ip,
        changes={
            "serial": hold.card.serial_display,
            "amount": str(hold.amount),
            "captured": str(hold.captured),
            "merchant_id": hold.merchant_id,
            "merchant_reference": hold.merchant_reference,
        },
    )


def _key_label(key: MerchantApiKey) -> str:
    return f"merchant-key:{key.prefix}"


def _release(card: Card, hold: CardHold, *, status: str, now: datetime.datetime) -> None:
    """Give a held amount back to the card's available balance; both rows locked by the caller."""
    card.held = card.held - hold.amount
    card.save(update_fields=["held"])
    hold.status = status
    hold.closed_at = now
    hold.save(update_fields=["status", "closed_at"])


def card_holds_release(*, card: Card, status: str = HoldStatus.RELEASED) -> int:
    """Release every open hold of a card the caller has locked (before it is frozen for good,
    voided, expired or reissued, whose balance moves must not be held). Returns how many."""
    now = timezone.now()
    holds = list(
        CardHold.objects.select_for_update()
        .filter(card=card, status=HoldStatus.HELD)
        .order_by("pk")
    )
    for hold in holds:
        _release(card, hold, status=status, now=now)
    return len(holds)


# --- Creating a hold -----------------------------------------------------------------------------


def _replay_hold(*, stored: str, digest: str) -> CardHold | None:
    existing = CardHold.objects.select_related("card").filter(idempotency_key=stored).first()
    if existing is not None and existing.request_digest != digest:
        raise IdempotencyKeyReused()
    return existing


def hold_create(
    *,
    key: MerchantApiKey,
    code: object,
    amount: Decimal,
    merchant_reference: str,
    idempotency_key: str,
    ip: str | None = None,
) -> tuple[CardHold, bool]:
    """Reserve ``amount`` of the card with this code for the key's merchant; returns the hold and
    whether it is a replay. Refusals as for a redemption."""
    amount = positive_amount(amount)
    stored = stored_key(key.merchant, idempotency_key)
    digest = request_digest(
        "hold", code=code_fact(code), amount=str(amount), merchant_reference=merchant_reference
    )
    existing = _replay_hold(stored=stored, digest=digest)
    if existing is not None:
        return existing, True
    card = card_look_up(key=key, code=code, endpoint=MerchantLookupFailure.Endpoint.HOLD, ip=ip)
    try:
        return _hold(
            card_id=card.pk,
            key=key,
            amount=amount,
            merchant_reference=merchant_reference,
            stored=stored,
            digest=digest,
            ip=ip,
        )
    except CardUnavailable as failure:
        prefix = throttle.code_prefix(code) if isinstance(code, str) else ""
        lookup_failed(
            key=key,
            failure=failure,
            endpoint=MerchantLookupFailure.Endpoint.HOLD,
            ip=ip,
            prefix=prefix,
        )
        raise


@transaction.atomic(durable=True)
def _hold(
    *,
    card_id: int,
    key: MerchantApiKey,
    amount: Decimal,
    merchant_reference: str,
    stored: str,
    digest: str,
    ip: str | None,
) -> tuple[CardHold, bool]:
    card = card_lock(card_id)
    existing = _replay_hold(stored=stored, digest=digest)
    if existing is not None:
        return existing, True
    unusable = card_unusable_reason(card)
    if unusable is not None:
        raise CardUnavailable(unusable, card=card)
    available = card.balance - card.held
    if amount > available:
        raise InsufficientBalance(available=available)
    now = timezone.now()
    try:
        with transaction.atomic():
            hold = CardHold.objects.create(
                card=card,
                merchant=key.merchant,
                amount=amount,
                merchant_reference=merchant_reference,
                idempotency_key=stored,
                request_digest=digest,
                expires_at=now + datetime.timedelta(minutes=settings.MERCHANT_HOLD_MINUTES),
                created_at=now,
            )
    except IntegrityError:
        existing = _replay_hold(stored=stored, digest=digest)
        if existing is None:
            raise
        return existing, True
    card.held = card.held + amount
    card.last_activity_at = now
    card.save(update_fields=["held", "last_activity_at"])
    _audit_hold(SpendAction.HOLD_CREATED, hold, ip, _key_label(key))
    return hold, False


# --- Capture and release -------------------------------------------------------------------------


def hold_of(*, key: MerchantApiKey, hold_id: uuid.UUID | str) -> CardHold:
    """One hold of the key's merchant; any other is a 404."""
    try:
        return CardHold.objects.select_related("card").get(public_id=hold_id, merchant=key.merchant)
    except (CardHold.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def _lock(hold: CardHold) -> tuple[Card, CardHold]:
    card = card_lock(hold.card_id)
    locked = CardHold.objects.select_for_update().get(pk=hold.pk)
    locked.card = card
    return card, locked


def _refuse_closed(hold: CardHold) -> None:
    if hold.status == HoldStatus.EXPIRED:
        raise HoldExpired()
    if hold.status != HoldStatus.HELD:
        raise StateConflict(
            _("This hold is already %(status)s.") % {"status": hold.get_status_display()},
            code="hold_state",
        )


def hold_capture(
    *,
    key: MerchantApiKey,
    hold_id: uuid.UUID | str,
    amount: Decimal | None,
    idempotency_key: str,
    ip: str | None = None,
) -> SpendResult:
    """Redeem ``amount`` of a hold (all of it when None) and release the rest."""
    if amount is not None:
        amount = positive_amount(amount)
    stored = stored_key(key.merchant, idempotency_key)
    digest = request_digest(
        "capture", hold=str(hold_id), amount=str(amount) if amount is not None else "all"
    )
    replay = replay_transaction(stored=stored, digest=digest)
    if replay is not None:
        return replay
    hold = hold_of(key=key, hold_id=hold_id)
    expired = False
    with transaction.atomic(durable=True):
        card, hold = _lock(hold)
        replay = replay_transaction(stored=stored, digest=digest)
        if replay is not None:
            return replay
        _refuse_closed(hold)
        now = timezone.now()
        if hold.expires_at <= now:
            # Past its end before the sweep came: expire it now (committed), then refuse.
            _release(card, hold, status=HoldStatus.EXPIRED, now=now)
            _audit_hold(SpendAction.HOLD_EXPIRED, hold, ip, _key_label(key))
            expired = True
        else:
            result = _capture(
                card=card,
                hold=hold,
                key=key,
                amount=amount,
                stored=stored,
                digest=digest,
                now=now,
                ip=ip,
            )
    if expired:
        raise HoldExpired()
    return result


def _capture(
    *,
    card: Card,
    hold: CardHold,
    key: MerchantApiKey,
    amount: Decimal | None,
    stored: str,
    digest: str,
    now: datetime.datetime,
    ip: str | None,
) -> SpendResult:
    taken = hold.amount if amount is None else amount
    if taken > hold.amount:
        raise DomainError(
            {
                "amount": [
                    _("A capture takes at most the amount held (%(held)s).")
                    % {"held": format_cny(hold.amount)}
                ]
            },
            code="capture_exceeds_hold",
        )
    if card_unusable_reason(card, now=now) is not None or card.status != CardStatus.ACTIVE:
        raise StateConflict(
            _(
                "The card can no longer be used (%(status)s): release the hold and ask for "
                "another payment."
            )
            % {"status": card.get_status_display()},
            code="card_state",
        )
    status_before = card.status

    def write() -> CardTransaction:
        _release(card, hold, status=HoldStatus.CAPTURED, now=now)
        hold.captured = taken
        hold.save(update_fields=["captured"])
        return card_transaction_write(
            card=card,
            kind=CardTransaction.Kind.REDEEM,
            amount=-taken,
            merchant=key.merchant,
            hold=hold,
            merchant_reference=hold.merchant_reference,
            idempotency_key=stored,
            request_digest=digest,
            at=now,
        )

    written = write_once(stored=stored, digest=digest, write=write)
    if isinstance(written, SpendResult):
        return written
    ledger_post_spend(
        tx=written, merchant=key.merchant, to_merchant=taken, card_status=status_before
    )
    _audit_hold(SpendAction.HOLD_CAPTURED, hold, ip, _key_label(key))
    return SpendResult(transaction=written, replayed=False)


def hold_release(
    *, key: MerchantApiKey, hold_id: uuid.UUID | str, ip: str | None = None
) -> CardHold:
    """Give a hold's amount back to the card. A hold already released or expired is answered as
    it is (nothing is held either way); a captured one is a conflict."""
    hold = hold_of(key=key, hold_id=hold_id)
    with transaction.atomic(durable=True):
        card, hold = _lock(hold)
        if hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return hold
        if hold.status != HoldStatus.HELD:
            _refuse_closed(hold)
        _release(card, hold, status=HoldStatus.RELEASED, now=timezone.now())
        _audit_hold(SpendAction.HOLD_RELEASED, hold, ip, _key_label(key))
        return hold


# --- Expiry --------------------------------------------------------------------------------------


def holds_expire(*, now: datetime.datetime | None = None, limit: int = 1000) -> int:
    """Release the holds past their end (at most ``limit``, oldest first), each in its own short
    transaction; returns how many. Idempotent: a hold captured or released meanwhile is left."""
    now = now or timezone.now()
    due = list(
        CardHold.objects.filter(status=HoldStatus.HELD, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", "card_id")[:limit]
    )
    expired = 0
    for hold_id, card_id in due:
        with transaction.atomic():
            card = card_lock(card_id)
            hold = CardHold.objects.select_for_update().select_related("card").get(pk=hold_id)
            if hold.status != HoldStatus.HELD or hold.expires_at > now:
                continue
            _release(card, hold, status=HoldStatus.EXPIRED, now=now)
            _audit_hold(SpendAction.HOLD_EXPIRED, hold, None, "merchant-holds-expire")
            expired += 1
    return expired
