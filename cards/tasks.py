"""Thin tasks of the ordering flow: ids in, one service or one message out."""

from __future__ import annotations

from smtplib import SMTPException

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from cards.models import ChunkStatus, Order, OrderStatus
from cards.services import issuance, recipients
from cards.services.workflow import (
    order_begin_fulfilment,
    order_fund_from_proforma,
    stranded_orders_start,
)
from portal.models import Membership, Role, User
from portal.sms import SmsError


def _order_link(order: Order) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "cards:order_detail", kwargs={"number": order.number}
    )


def _bilingual(template: str, context: dict[str, object]) -> tuple[str, str]:
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"emails/{template}.txt", context))
            subjects.append(render_to_string(f"emails/{template}_subject.txt", context).strip())
    return " / ".join(subjects), "\n\n----\n\n".join(bodies)


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def order_notify_approvers(order_id: int) -> str:
    """Tell the company's approvers (or, without approvers, its owners) that an order waits."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("company", "created_by")
            .filter(pk=order_id)
            .first()
        )
        if order is None or order.status != OrderStatus.PENDING_APPROVAL:
            return "skipped"
        if order.approvers_notified_at is not None:
            return "already-sent"
        members = Membership.objects.filter(company=order.company).exclude(user=order.created_by)
        emails = sorted(
            m.user.email for m in members.filter(role=Role.APPROVER).select_related("user")
        ) or sorted(m.user.email for m in members.filter(role=Role.OWNER).select_related("user"))
        if emails:
            subject, body = _bilingual(
                "order_approval_needed", {"order": order, "link": _order_link(order)}
            )
            send_mail(subject=subject, message=body, from_email=None, recipient_list=emails)
        order.approvers_notified_at = timezone.now()
        order.save(update_fields=["approvers_notified_at"])
    return "sent"


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def order_notify_creator(order_id: int) -> str:
    """Tell the order's creator that it was rejected, and why."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("company", "created_by")
            .filter(pk=order_id)
            .first()
        )
        if order is None or order.status != OrderStatus.REJECTED:
            return "skipped"
        if order.creator_notified_at is not None:
            return "already-sent"
        subject, body = _bilingual("order_rejected", {"order": order, "link": _order_link(order)})
        send_mail(
            subject=subject, message=body, from_email=None, recipient_list=[order.created_by.email]
        )
        order.creator_notified_at = timezone.now()
        order.save(update_fields=["creator_notified_at"])
    return "sent"


@shared_task(acks_late=True)
def order_start_fulfilment(order_id: int) -> str:
    """A funded order moves to card generation (the issuance engine takes over from here)."""
    order = order_begin_fulfilment(order_id=order_id)
    return order.status if order is not None else "missing"


@shared_task(acks_late=True, ignore_result=True)
def order_fund_after_payment(proforma_id: int, invoice_id: int, actor_id: int | None = None) -> str:
    """The pro-forma of an order was paid (queued on the payment's commit): fund the order.
    Idempotent: a funded or cancelled order is left as it is."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    order = order_fund_from_proforma(proforma_id=proforma_id, invoice_id=invoice_id, actor=actor)
    return order.status if order is not None else "missing"


class ChunkAttemptFailed(Exception):
    """Carries only a sanitised reason into the retry (and so into the result backend)."""


@shared_task(bind=True, acks_late=True, max_retries=None)
def issuance_generate_chunk(self: Task, chunk_id: int) -> str:
    """Generate one chunk of cards (codes queue). Idempotent: a chunk already done is skipped,
    and a duplicate delivery waits on the chunk's row lock, then skips."""
    chunk = issuance.chunk_attempt_start(chunk_id=chunk_id)
    if chunk is None:
        return "missing"
    if chunk.status != ChunkStatus.PENDING:
        return str(chunk.status)
    try:
        return issuance.chunk_generate(chunk_id=chunk_id)
    except Exception as exc:  # noqa: BLE001  (any failure counts as an attempt)
        final = chunk.attempts >= settings.ISSUANCE_MAX_ATTEMPTS
        issuance.chunk_record_failure(chunk_id=chunk_id, error=exc, final=final)
        if final:
            return "failed"
        raise self.retry(
            countdown=min(2**chunk.attempts, 60), exc=ChunkAttemptFailed(type(exc).__name__)
        ) from None


@shared_task(acks_late=True)
def finalise_batch(batch_id: int) -> str:
    return issuance.batch_finalise(batch_id=batch_id)


@shared_task(acks_late=True)
def sweep_issuance() -> int:
    """Every minute (beat): start funded orders that never started, then send again the chunks
    nobody works on. Returns how many chunks were sent again."""
    stranded_orders_start()
    return len(issuance.issuance_sweep())


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def order_notify_ready(order_id: int) -> str:
    """Tell the order's creator and the company's finance members that the cards are ready."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("company", "created_by")
            .filter(pk=order_id)
            .first()
        )
        if order is None or order.status != OrderStatus.FULFILLED:
            return "skipped"
        if order.ready_notified_at is not None:
            return "already-sent"
        finance = Membership.objects.filter(company=order.company, role=Role.FINANCE)
        emails = sorted(
            {order.created_by.email, *(m.user.email for m in finance.select_related("user"))}
        )
        subject, body = _bilingual("order_ready", {"order": order, "link": _order_link(order)})
        send_mail(subject=subject, message=body, from_email=None, recipient_list=emails)
        order.ready_notified_at = timezone.now()
        order.save(update_fields=["ready_notified_at"])
    return "sent"


# --- Delivery to recipients ----------------------------------------------------------------------


@shared_task(acks_late=True)
def recipient_deliveries_create(order_id: int) -> int:
    """A fulfilled order with delivery to recipients: one delivery per card, each queued for
    sending. Idempotent: a second run creates nothing."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return 0
    return recipients.deliveries_create(order=order)


class DeliveryAttemptFailed(Exception):
    """Carries only the failure's type into the retry (and so into the result backend)."""


RECIPIENT_SEND_MAX_RETRIES = 8


@shared_task(bind=True, acks_late=True, max_retries=RECIPIENT_SEND_MAX_RETRIES)
def recipient_delivery_send(self: Task, delivery_id: int) -> str:
    """Send one recipient their one-time link. The token is made inside the service, never
    passed in or returned. Idempotent: only a pending delivery is sent, under its row lock.
    A mail server or SMS provider that fails is retried with back-off (30 s doubling to 30 min);
    after the last attempt the delivery is marked failed."""
    try:
        return recipients.delivery_send(delivery_id=delivery_id)
    except (SMTPException, OSError, SmsError) as exc:
        reason = type(exc).__name__
        final = self.request.retries >= RECIPIENT_SEND_MAX_RETRIES
        recipients.delivery_record_failure(delivery_id=delivery_id, reason=reason, final=final)
        if final:
            return "failed"
        raise self.retry(
            countdown=min(30 * 2**self.request.retries, 1800), exc=DeliveryAttemptFailed(reason)
        ) from None


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def upload_check(upload_id: int) -> str:
    """Check an order file too large to check while the buyer waits. Idempotent: an upload that
    is no longer waiting for its check is left alone; any failure marks it FAILED with a reason
    (never CHECKING for ever)."""
    from cards.models import OrderUpload, UploadStatus
    from cards.services import uploads

    upload = OrderUpload.objects.select_related("company").filter(pk=upload_id).first()
    if upload is None or upload.status != UploadStatus.CHECKING:
        return "skipped"
    language = (upload.result or {}).get("language") or settings.LANGUAGE_CODE
    with translation.override(language):
        try:
            upload = uploads.upload_check(upload=upload)
        except Exception:
            uploads.upload_fail(
                upload_id=upload_id,
                reason=translation.gettext(
                    "The file could not be checked because of an error on our side; upload it "
                    "again, or send it to support."
                ),
            )
            raise
    return str(upload.status)
