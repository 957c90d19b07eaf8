"""Creating an order's deliveries and sending each link by email and SMS (the send task's work)."""

from __future__ import annotations

import datetime
import secrets
from functools import partial
from smtplib import SMTPRecipientsRefused

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.models import Card, DeliveryMethod, DeliveryStatus, Order, OrderStatus, RecipientDelivery
from portal import sms
from portal.notices import Notice, notice_compose, notice_mail, notice_sms_text
from portal.services.audit import audit_record

from .base import (
    CREATE_BATCH,
    TOKEN_BYTES,
    RecipientAction,
    _lock,
    recipient_link_url,
    token_digest,
)


def _queue_sends(delivery_ids: list[int]) -> None:
    from cards.tasks import recipient_delivery_send

    for delivery_id in delivery_ids:
        recipient_delivery_send.delay(delivery_id)


def deliveries_create(*, order: Order) -> int:
    """One delivery per card of a fulfilled order with delivery to recipients (never a canary
    card, docs/codes.md), each queued for sending once this commits. Idempotent: cards that
    have their delivery are skipped (and the card's one-to-one delivery refuses a duplicate).
    Returns the number created."""
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
            Card.objects.filter(batch__order=order, delivery__isnull=True, is_canary=False)
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
    included, for the task to retry: nothing half-sent is recorded as sent.

    Unlike the notices (``portal.notices.notice_send``), the link is sent under the delivery's
    row lock: the token is made, stored and sent together, and a second delivery of the message
    must wait and find it sent rather than send a second token that replaces the first."""
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
        if order.company.is_sandbox:
            # Test mode (docs/api.md): no email or SMS leaves with a test card; the delivery
            # goes through its states as if it had been sent.
            delivered = 1
        elif delivery.email:
            subject, body = notice_compose("emails/recipient_link", context)
            try:
                notice_mail(Notice(to=[delivery.email], subject=subject, body=body))
                delivered += 1
            except SMTPRecipientsRefused as exc:
                refusals.append(_refusal_text(exc))
        if delivery.mobile and not order.company.is_sandbox:
            text = notice_sms_text("emails/recipient_sms", context)
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
