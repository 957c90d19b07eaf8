"""The recipient's page: opening a live link, and showing the code once."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from cards import codes
from cards.models import DeliveryStatus, RecipientDelivery
from portal.services.audit import audit_record

from .base import RECIPIENT_ACTOR_LABEL, UNREVEALABLE_CARD_STATUSES, LinkInvalid, RecipientAction


def _valid_link(digest: bytes) -> models.QuerySet[RecipientDelivery]:
    return RecipientDelivery.objects.filter(
        token_digest=digest, token_expires_at__gt=timezone.now()
    )


def link_open(*, digest: bytes) -> RecipientDelivery:
    """The delivery behind a live link, noted as opened the first time. LinkInvalid when the
    link is unknown, replaced or expired (the same answer for each)."""
    delivery = _valid_link(digest).select_related("order__company", "card", "line__product").first()
    if delivery is None:
        raise LinkInvalid
    now = timezone.now()
    # Single conditional updates: no lost update against a reveal or a resend running now.
    if delivery.opened_at is None:
        RecipientDelivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(
            opened_at=now
        )
        delivery.opened_at = now
    if delivery.status == DeliveryStatus.SENT:
        RecipientDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENT).update(
            status=DeliveryStatus.OPENED
        )
        delivery.status = DeliveryStatus.OPENED
    return delivery


@dataclass(frozen=True)
class Reveal:
    delivery: RecipientDelivery
    # The formatted code, only in the one answer that shows it; None afterwards.
    code: str | None


def link_reveal(*, digest: bytes, ip: str | None = None) -> Reveal:
    """Show the card's code the first time only. The row is locked and re-checked, so two
    simultaneous requests (two tabs, two devices) show it once."""
    with transaction.atomic(durable=True):
        delivery = (
            _valid_link(digest)
            .select_for_update(of=("self",))
            .select_related("order__company", "card", "line__product")
            .first()
        )
        if delivery is None:
            raise LinkInvalid
        if delivery.revealed_at is not None or delivery.card.status in UNREVEALABLE_CARD_STATUSES:
            return Reveal(delivery=delivery, code=None)
        card = delivery.card
        now = timezone.now()
        delivery.revealed_at = now
        delivery.opened_at = delivery.opened_at or now
        delivery.status = DeliveryStatus.REVEALED
        delivery.save(update_fields=["revealed_at", "opened_at", "status"])
        audit_record(
            action=RecipientAction.CODE_REVEALED,
            company=delivery.order.company,
            obj=delivery,
            ip=ip,
            actor_label=RECIPIENT_ACTOR_LABEL,
            changes={"order": delivery.order.number, "serial": card.serial_display},
        )
        code = codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
    return Reveal(delivery=delivery, code=code)
