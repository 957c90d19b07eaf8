"""Delivery of cards to their recipients by email and SMS, each with a one-time link.

A link carries a random token (256 bits). Only its SHA-256 digest is stored, with an expiry. The
token is made inside the send task, which receives nothing but the delivery's id, so it never
passes through the broker; it goes into the email and the SMS and is then forgotten.

A delivery is ``pending`` whenever a link is wanted: the first send, a resend, a new recipient.
The send task acts only on a pending row it holds locked, and leaves it ``sent`` (or
``bounced``), so a redelivered task message sends nothing twice. A resend or a change of
recipient clears the stored digest at once: the old link is dead before the new one exists.

The recipient's page takes the token from the link into the session (as its digest) and shows
the code once, under the delivery's row lock, so two simultaneous clicks show it once.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from functools import partial
from smtplib import SMTPRecipientsRefused
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cards import codes
from cards.models import (
    Card,
    CardStatus,
    DeliveryMethod,
    DeliveryStatus,
    Order,
    OrderStatus,
    RecipientDelivery,
)
from portal import crypto, policy, sms
from portal.models import User, register_audit_actions
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

TOKEN_BYTES = 32
CREATE_BATCH = 2000
RECIPIENT_ACTOR_LABEL = "recipient"
# Cards whose code must not be handed out any more (an operator froze or voided them).
UNREVEALABLE_CARD_STATUSES = frozenset({CardStatus.FROZEN, CardStatus.VOIDED})


class RecipientAction(models.TextChoices):
    DELIVERIES_CREATED = (
        "recipient.deliveries_created",
        gettext_lazy("Prepared links to recipients"),
    )
    LINK_RESENT = "recipient.link_resent", gettext_lazy("Resent a recipient's link")
    RECIPIENT_CHANGED = "recipient.changed", gettext_lazy("Changed a card's recipient")
    CODE_REVEALED = "recipient.code_revealed", gettext_lazy("A recipient saw their card code")


register_audit_actions(RecipientAction)


class LinkInvalid(Exception):
    """Unknown, replaced or expired link: the page says so, without telling which."""


# --- Small helpers -------------------------------------------------------------------------------


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def recipient_link_url(token: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "cards:recipient_link", kwargs={"token": token}
    )


def mask_email(email: str) -> str:
    """wang.xiaoming@example.com -> wa***@example.com."""
    local, at, domain = email.partition("@")
    if not at:
        return crypto.mask(email)
    keep = 2 if len(local) > 3 else 1
    return f"{local[:keep]}***@{domain}"


def masked_contact(*, name: str, email: str, mobile: str) -> dict[str, str]:
    """A recipient as pages show them: the name, the email and mobile partly hidden. The one
    masking rule for recipients: the order page's lines and delivery panel both use it."""
    return {
        "name": name,
        "email": mask_email(email) if email else "",
        "mobile": sms.mask_mobile(mobile) if mobile else "",
    }


def masked_recipient(delivery: RecipientDelivery) -> dict[str, str]:
    return masked_contact(
        name=delivery.recipient_name, email=delivery.email, mobile=delivery.mobile
    )


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


def _queue_sends(delivery_ids: list[int]) -> None:
    from cards.tasks import recipient_delivery_send

    for delivery_id in delivery_ids:
        recipient_delivery_send.delay(delivery_id)


def _lock(delivery_id: int) -> RecipientDelivery:
    return (
        RecipientDelivery.objects.select_for_update(of=("self",))
        .select_related("order__company", "card", "line__product")
        .get(pk=delivery_id)
    )


# --- Creating deliveries -------------------------------------------------------------------------


def deliveries_create(*, order: Order) -> int:
    """One delivery per card of a fulfilled order with delivery to recipients, each queued for
    sending once this commits. Idempotent: cards that have their delivery are skipped (and the
    card's one-to-one delivery refuses a duplicate). Returns the number created."""
    created_ids: list[int] = []
    with transaction.atomic(durable=True):
        order = (
            Order.objects.select_for_update(of=("self",)).select_related("company").get(pk=order.pk)
        )
        if order.delivery_method != DeliveryMethod.RECIPIENTS or order.status not in (
            OrderStatus.FULFILLED,
            OrderStatus.DELIVERED,
        ):
            return 0
        rows = (
            Card.objects.filter(batch__order=order, delivery__isnull=True)
            .order_by("serial")
            .values_list(
                "pk",
                "batch__line_id",
                "batch__line__recipient_name",
                "batch__line__recipient_email",
                "batch__line__recipient_mobile",
            )
        )
        pending: list[RecipientDelivery] = []

        def flush() -> None:
            created = RecipientDelivery.objects.bulk_create(pending)
            created_ids.extend(d.pk for d in created)
            pending.clear()

        for card_id, line_id, name, email, mobile in rows.iterator(chunk_size=CREATE_BATCH):
            pending.append(
                RecipientDelivery(
                    order=order,
                    line_id=line_id,
                    card_id=card_id,
                    recipient_name=name,
                    email=email,
                    mobile=mobile,
                )
            )
            if len(pending) >= CREATE_BATCH:
                flush()
        flush()
        if created_ids:
            audit_record(
                action=RecipientAction.DELIVERIES_CREATED,
                company=order.company,
                obj=order,
                actor_label="system",
                changes={"deliveries": len(created_ids)},
            )
            transaction.on_commit(partial(_queue_sends, created_ids))
    return len(created_ids)


# --- Sending a link ------------------------------------------------------------------------------


def _bilingual(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body in Chinese, then English: we do not know the recipient's language."""
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"emails/{template}.txt", context))
            subjects.append(render_to_string(f"emails/{template}_subject.txt", context).strip())
    return " / ".join(subjects), "\n\n----\n\n".join(bodies)


def _refusal_text(exc: SMTPRecipientsRefused) -> str:
    replies = [
        f"{code} {message.decode(errors='replace') if isinstance(message, bytes) else message}"
        for code, message in exc.recipients.values()
    ]
    return _("Email refused: %(reply)s") % {"reply": "; ".join(replies) or "-"}


def delivery_send(*, delivery_id: int) -> str:
    """Send the link of one pending delivery: a new token, its digest and expiry stored, the
    link by email and/or SMS. Returns ``sent``, ``bounced``, ``failed``, ``skipped`` (not
    pending: already sent, or nothing wanted) or ``missing``.

    A refused address or number is a bounce, recorded without retrying. Any other failure
    (SMTPException, OSError, SmsError) propagates and rolls back everything, the new digest
    included, for the task to retry: nothing half-sent is recorded as sent."""
    with transaction.atomic(durable=True):
        try:
            delivery = _lock(delivery_id)
        except RecipientDelivery.DoesNotExist:
            return "missing"
        if delivery.status != DeliveryStatus.PENDING:
            return "skipped"
        now = timezone.now()
        if not (delivery.email or delivery.mobile):
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = _("No email or mobile number to send to.")
            delivery.save(update_fields=["status", "last_error"])
            return "failed"
        token = secrets.token_urlsafe(TOKEN_BYTES)
        digest = token_digest(token)
        expires_at = now + datetime.timedelta(days=settings.RECIPIENT_LINK_DAYS)
        order = delivery.order
        context = {
            "name": delivery.recipient_name,
            "company": order.company.legal_name,
            "product": delivery.line.product,
            "face_value": delivery.card.face_value,
            "card_expires_at": delivery.card.expires_at,
            "link": recipient_link_url(token),
            "link_expires_at": expires_at,
        }
        del token
        delivered = 0
        refusals: list[str] = []
        if delivery.email:
            subject, body = _bilingual("recipient_link", context)
            try:
                send_mail(
                    subject=subject, message=body, from_email=None, recipient_list=[delivery.email]
                )
                delivered += 1
            except SMTPRecipientsRefused as exc:
                refusals.append(_refusal_text(exc))
        if delivery.mobile:
            with translation.override(settings.LANGUAGE_CODE):
                text = render_to_string("emails/recipient_sms.txt", context).strip()
            try:
                sms.send_sms(delivery.mobile, text)
                delivered += 1
            except sms.SmsRecipientRefused as exc:
                refusals.append(_("SMS refused: %(reply)s") % {"reply": str(exc)[:200] or "-"})
        if delivered:
            # At least one channel carried the link: it works until it expires or is replaced.
            delivery.status = DeliveryStatus.SENT
            delivery.token_digest = digest
            delivery.token_expires_at = expires_at
            delivery.sent_at = now
            delivery.send_count += 1
        else:
            delivery.status = DeliveryStatus.BOUNCED
            delivery.token_digest = None
            delivery.token_expires_at = None
        if refusals:
            delivery.bounced_at = now
        delivery.last_error = "; ".join(refusals)[:300]
        delivery.save(
            update_fields=[
                "status",
                "token_digest",
                "token_expires_at",
                "sent_at",
                "send_count",
                "bounced_at",
                "last_error",
            ]
        )
    return "sent" if delivered else "bounced"


def delivery_record_failure(*, delivery_id: int, reason: str, final: bool) -> None:
    """A send attempt failed for a passing reason (the task retries): note it on the row; after
    the last attempt the delivery is ``failed`` and waits for a resend."""
    with transaction.atomic(durable=True):
        delivery = RecipientDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return
        delivery.last_error = (
            _("Could not send (%(reason)s); use Resend to try again.")
            if final
            else _("Could not send yet (%(reason)s); trying again.")
        ) % {"reason": reason[:100]}
        if final:
            delivery.status = DeliveryStatus.FAILED
        delivery.save(update_fields=["status", "last_error"])


# --- The buyer's actions: resend, change of recipient --------------------------------------------


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


def recipient_label(delivery: RecipientDelivery) -> str:
    masked = masked_recipient(delivery)
    return masked["name"] or masked["email"] or masked["mobile"]


# --- The recipient's page ------------------------------------------------------------------------


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


# --- Reading -------------------------------------------------------------------------------------


def delivery_summary(order: Order) -> dict[str, int]:
    """How many of the order's deliveries are in each status."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    for row in (
        RecipientDelivery.objects.filter(order=order)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    ):
        counts[row["status"]] = row["n"]
    return counts
