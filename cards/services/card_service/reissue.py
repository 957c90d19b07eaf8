"""Report lost and reissue (a registered card), and exchange (an expired bearer card): one code
path that moves the remaining balance to a new card with a new secret code, in one transaction.

- The old card: ``reissue_out`` of -B, status voided, and ``reissued_as`` the new card.
- The new card: in the same batch (the same order line, recipient, cost center), serial from the
  same counter as issuance, code generated as issuance does (``cards.codes``: only the digest
  and the ciphertext are stored), face value B and balance B, ``reissued_from`` the old card,
  expiry by the product's rules (registered cards do not expire; a bearer card gets the
  product's full validity from today); a ``reissue_in`` of 0, so that balance = face value +
  transactions holds for both cards.
- The ledger: nothing for a reissue (the liability is the same); an exchange of a card whose
  balance had moved to the expired-balance liability moves it back to card liability.
- Delivery: a card delivered by link gets a new delivery to the same recipient, whose link is
  sent once this commits (the old card's page shows no code any more: it is voided). A card
  delivered by file is in its order's code file, and each reissue allows one more download of
  that file (``cards.services.code_allowance``).

Open holds refuse the act (``require_no_holds``): they are never released behind a merchant.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Account
from billing.money import ZERO
from billing.services.ledger import account_get, journal_post
from cards import codes
from cards.models import (
    Batch,
    Card,
    CardServiceRequest,
    CardStatus,
    CardTransaction,
    CardType,
    RecipientDelivery,
)
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.issuance import add_months, serials_allocate
from portal.models import User
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

from .base import (
    Act,
    CardServiceAction,
    CardStateError,
    card_company,
    require_no_holds,
    require_operator,
    require_reason,
    require_second_operator,
    require_status,
)


def _new_card(old: Card, batch: Batch) -> Card:
    """The replacement: a new serial and a new code, the old card's balance as face value."""
    block = codes.generate_block(serials_allocate(1), 1)
    now = timezone.now()
    product = batch.product
    months = product.validity_months if product.card_type == CardType.BEARER else None
    return Card.objects.create(
        serial=block.serials[0],
        batch=batch,
        digest=block.digests[0],
        key_id=block.key_id,
        ciphertext=block.ciphertexts[0],
        last4=block.last4s[0].decode(),
        face_value=old.balance,
        balance=old.balance,
        status=CardStatus.ACTIVE,
        expires_at=add_months(now, months) if months else None,
        reissued_from=old,
        created_at=now,
    )


def _deliver(old: Card, new: Card) -> str:
    """Send the new card the way the old one went: ``link`` (a new one-time link to the same
    recipient, sent after the commit) or ``file`` (the order's code file)."""
    delivery = RecipientDelivery.objects.filter(card=old).first()
    if delivery is None:
        return "file"
    replacement = RecipientDelivery.objects.create(
        order_id=delivery.order_id,
        line_id=delivery.line_id,
        card=new,
        recipient_name=delivery.recipient_name,
        email=delivery.email,
        mobile=delivery.mobile,
    )
    from cards.tasks import recipient_delivery_send

    outbox_enqueue(recipient_delivery_send, replacement.pk)
    return "link"


def require_product_rule(card: Card, batch: Batch, act: str) -> None:
    card_type = batch.product.card_type
    if act == Act.REISSUE and card_type != CardType.REGISTERED:
        raise CardStateError(
            _(
                "Card %(serial)s is a bearer card: only registered cards are reissued when lost. "
                "Freeze or void it instead."
            )
            % {"serial": card.serial_display},
            code="not_registered",
        )
    if act == Act.EXCHANGE:
        expired = card.status == CardStatus.EXPIRED or (
            card.expires_at is not None and card.expires_at <= timezone.now()
        )
        if card_type != CardType.BEARER or not expired:
            raise CardStateError(
                _("Card %(serial)s has not expired; only an expired bearer card is exchanged.")
                % {"serial": card.serial_display},
                code="not_expired",
            )


def _replace(
    *,
    card: Card,
    act: str,
    reason: str,
    actor: User,
    ip: str | None,
    approval: CardServiceRequest | None,
) -> Card:
    require_operator(actor)
    reason = require_reason(reason)
    with transaction.atomic():
        old = card_lock(card.pk)
        batch = Batch.objects.select_related("product").get(pk=old.batch_id)
        require_status(old, act)
        require_product_rule(old, batch, act)
        require_no_holds(old)
        if old.balance <= 0:
            raise CardStateError(
                _("Card %(serial)s has no balance to move; void it instead.")
                % {"serial": old.serial_display},
                code="nothing_to_move",
            )
        require_second_operator(old, act, approval, actor)
        before, balance = old.status, old.balance
        new = _new_card(old, batch)
        card_transaction_write(
            card=old,
            kind=CardTransaction.Kind.REISSUE_OUT,
            amount=-balance,
            status=CardStatus.VOIDED,
            reason=reason,
            actor=actor,
        )
        card_transaction_write(
            card=new,
            kind=CardTransaction.Kind.REISSUE_IN,
            amount=ZERO,
            reason=reason,
            actor=actor,
        )
        if before == CardStatus.EXPIRED:
            journal_post(
                kind="card_exchange",
                idempotency_key=f"card_exchange:{old.pk}",
                postings=[
                    (account_get(Account.Kind.EXPIRED_LIABILITY), balance),
                    (account_get(Account.Kind.CARD_LIABILITY), -balance),
                ],
                company=card_company(old),
                reference=new.serial_display,
                memo=f"exchanged {old.serial_display}",
            )
        delivery = _deliver(old, new)
        if approval is not None:
            approval.new_card = new
            approval.save(update_fields=["new_card"])
        audit_record(
            action=CardServiceAction.REISSUED
            if act == Act.REISSUE
            else CardServiceAction.EXCHANGED,
            actor=actor,
            company=card_company(old),
            obj=old,
            ip=ip,
            changes={
                "serial": old.serial_display,
                "new_serial": new.serial_display,
                "status": [before, old.status],
                "balance": str(balance),
                "expires_at": new.expires_at.isoformat() if new.expires_at else None,
                "delivery": delivery,
                "reason": reason,
                "requested_by": approval.requested_by.email if approval is not None else None,
            },
        )
    return new


def card_reissue(
    *,
    card: Card,
    reason: str,
    actor: User,
    ip: str | None = None,
    approval: CardServiceRequest | None = None,
) -> Card:
    """A registered card reported lost: its balance moves to a new card with a new code,
    delivered to the same recipient. Returns the new card."""
    return _replace(
        card=card, act=Act.REISSUE, reason=reason, actor=actor, ip=ip, approval=approval
    )


def card_exchange(
    *,
    card: Card,
    reason: str,
    actor: User,
    ip: str | None = None,
    approval: CardServiceRequest | None = None,
) -> Card:
    """An expired bearer card still holding money, exchanged on the holder's request for a new
    card valid for the product's full validity. Returns the new card."""
    return _replace(
        card=card, act=Act.EXCHANGE, reason=reason, actor=actor, ip=ip, approval=approval
    )
