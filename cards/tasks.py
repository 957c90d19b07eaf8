"""Thin tasks of the ordering flow: ids in, one service or one message out."""

from __future__ import annotations

from smtplib import SMTPException

from celery import Task, shared_task
from django.conf import settings
from django.utils import translation

from cards.models import ChunkStatus, Order
from cards.services import issuance, notices, recipients
from cards.services.workflow import (
    order_begin_fulfilment,
    order_fund_from_proforma,
    stranded_orders_start,
)
from portal.models import User
from portal.sms import SmsError


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def order_notify_approvers(order_id: int) -> str:
    """Tell the approvers (without any, the owners) that an order waits: ``sent``,
    ``already-sent``, ``skipped`` (no longer waiting) or ``no-recipients``."""
    return notices.order_approvers_notify(order_id=order_id)


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def order_notify_creator(order_id: int) -> str:
    """Tell the order's creator that it was rejected, and why."""
    return notices.order_rejection_notify(order_id=order_id)


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
    """Tell the order's creator and the finance members that the cards are ready."""
    return notices.order_ready_notify(order_id=order_id)


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


# --- Merchant settlement (cards/services/settlement.py) -----------------------------------------


@shared_task(acks_late=True)
def merchant_settlements_nightly() -> int:
    """Each night (beat, 01:00): every merchant's settlement of the days before, catching up
    missed runs. Idempotent: open settlements are recomputed, paid ones left alone."""
    from cards.services import settlement

    return settlement.merchant_settlements_nightly()


# --- Expiry (cards/services/expiry/) -------------------------------------------------------------


@shared_task(acks_late=True)
def cards_expire_daily() -> dict[str, object]:
    """Daily (beat): expire bearer cards past their date, range by range. Idempotent: a re-run,
    or a run after one killed midway, does only what is left."""
    from cards.services.expiry import cards_expire

    return cards_expire().as_dict()


@shared_task(acks_late=True)
def expiry_reminders_daily() -> dict[str, object]:
    """Daily (beat): record and queue the reminders 30 and 7 days before expiry, each once."""
    from cards.services.expiry import expiry_reminders_run

    return expiry_reminders_run()


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError, SmsError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def expiry_notice_send(notice_id: int) -> str:
    """Send one recorded reminder before expiry. Once: a message delivered twice finds it sent."""
    from cards.services.expiry import expiry_notice_notify

    return expiry_notice_notify(notice_id=notice_id)


# --- Card spend at merchants (cards/services/spend/) ---------------------------------------------


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def merchant_key_frozen_alert(key_id: int) -> str:
    """Tell the operators that the merchant API froze a key (a burst of failures or a canary)."""
    from cards.services.spend.keys import merchant_key_frozen_notify

    return merchant_key_frozen_notify(key_id=key_id)


@shared_task(acks_late=True)
def merchant_holds_expire() -> int:
    """Release the merchant holds past their end, and delete the look-up blocks that have ended
    (Celery beat, every ``MERCHANT_HOLD_SWEEP_SECONDS``). Idempotent."""
    from cards.services.spend.holds import holds_expire
    from cards.services.spend.throttle import blocks_sweep

    blocks_sweep()
    return holds_expire()
