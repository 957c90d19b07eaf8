"""The buyer's actions on a delivery: resend the link, change the recipient."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.models import DeliveryStatus, RecipientDelivery
from portal import policy
from portal.models import User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

from .base import RecipientAction, _lock, masked_recipient, recipient_label


def _clean_recipient(name: str, email: str, mobile: str) -> tuple[str, str, str]:
    """The recipient as stored: trimmed name, lower-case email, 11-digit mainland mobile."""
    errors: list[str] = []
    name = (name or "").strip()[:100]
    email = (email or "").strip().lower()
    mobile = "".join((mobile or "").split())
    if mobile:
        digits = mobile.removeprefix("+86").removeprefix("0086")
        if len(digits) == 11 and digits.isdigit() and digits.startswith("1"):
            mobile = digits
        else:
            errors.append(
                _("Mobile %(value)s: a mainland mobile number has 11 digits starting with 1.")
                % {"value": mobile}
            )
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(_("Email %(value)s: not an email address.") % {"value": email})
    if not email and not mobile:
        errors.append(_("Give the recipient's email or mobile number (or both)."))
    if errors:
        raise ValidationError(errors)
    return name, email, mobile


def _require_changeable(delivery: RecipientDelivery) -> None:
    if delivery.revealed_at is not None:
        raise ValidationError(
            _(
                "The recipient already saw the code on %(time)s, so no new link can be sent. "
                "If it was lost, contact us with the card's serial number %(serial)s."
            )
            % {
                "time": timezone.localtime(delivery.revealed_at).strftime("%Y-%m-%d %H:%M"),
                "serial": delivery.card.serial_display,
            }
        )


def _reset_link(delivery: RecipientDelivery) -> None:
    """The old link dies now; the send task makes the new one."""
    delivery.token_digest = None
    delivery.token_expires_at = None
    delivery.status = DeliveryStatus.PENDING
    delivery.last_error = ""


def delivery_resend(
    *, delivery: RecipientDelivery, actor: User, ip: str | None = None
) -> RecipientDelivery:
    """Send a new link to the same recipient; the previous link stops working at once. At most
    RECIPIENT_MAX_SENDS links per card are sent."""
    policy.require(delivery.order.company, actor, Action.RECIPIENTS_MANAGE)
    with transaction.atomic(durable=True):
        delivery = _lock(delivery.pk)
        _require_changeable(delivery)
        if delivery.status == DeliveryStatus.PENDING:
            raise ValidationError(
                _("A link to %(recipient)s is already on its way; wait a few minutes.")
                % {"recipient": recipient_label(delivery)}
            )
        if delivery.send_count >= settings.RECIPIENT_MAX_SENDS:
            raise ValidationError(
                _(
                    "The link for card %(serial)s was sent %(count)s times, the most allowed. "
                    "If the address is wrong, change the recipient instead."
                )
                % {"serial": delivery.card.serial_display, "count": delivery.send_count}
            )
        _reset_link(delivery)
        delivery.save(update_fields=["token_digest", "token_expires_at", "status", "last_error"])
        audit_record(
            action=RecipientAction.LINK_RESENT,
            actor=actor,
            company=delivery.order.company,
            obj=delivery.order,
            ip=ip,
            changes={
                "serial": delivery.card.serial_display,
                "recipient": masked_recipient(delivery),
                "send": delivery.send_count + 1,
            },
        )
        from cards.tasks import recipient_delivery_send

        outbox_enqueue(recipient_delivery_send, delivery.pk)
    return delivery


def delivery_change_recipient(
    *,
    delivery: RecipientDelivery,
    actor: User,
    name: str,
    email: str,
    mobile: str,
    ip: str | None = None,
) -> RecipientDelivery:
    """Give the card to someone else (or fix an address) before its code was shown: the old
    link stops working and the new recipient gets a fresh one. At most RECIPIENT_MAX_CHANGES
    changes per card."""
    policy.require(delivery.order.company, actor, Action.RECIPIENTS_MANAGE)
    name, email, mobile = _clean_recipient(name, email, mobile)
    with transaction.atomic(durable=True):
        delivery = _lock(delivery.pk)
        _require_changeable(delivery)
        if delivery.recipient_changes >= settings.RECIPIENT_MAX_CHANGES:
            raise ValidationError(
                _("The recipient of card %(serial)s was changed %(count)s times, the most allowed.")
                % {"serial": delivery.card.serial_display, "count": delivery.recipient_changes}
            )
        if (name, email, mobile) == (
            delivery.recipient_name,
            delivery.email,
            delivery.mobile,
        ):
            raise ValidationError(_("This is the same recipient; nothing was changed."))
        old = masked_recipient(delivery)
        delivery.recipient_name = name
        delivery.email = email
        delivery.mobile = mobile
        delivery.recipient_changes += 1
        # What the old recipient did with their link says nothing about the new one.
        delivery.opened_at = None
        delivery.bounced_at = None
        _reset_link(delivery)
        delivery.save(
            update_fields=[
                "recipient_name",
                "email",
                "mobile",
                "recipient_changes",
                "opened_at",
                "bounced_at",
                "token_digest",
                "token_expires_at",
                "status",
                "last_error",
            ]
        )
        audit_record(
            action=RecipientAction.RECIPIENT_CHANGED,
            actor=actor,
            company=delivery.order.company,
            obj=delivery.order,
            ip=ip,
            changes={
                "serial": delivery.card.serial_display,
                "old": old,
                "new": masked_recipient(delivery),
            },
        )
        from cards.tasks import recipient_delivery_send

        outbox_enqueue(recipient_delivery_send, delivery.pk)
    return delivery
