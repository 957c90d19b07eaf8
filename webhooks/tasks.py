"""Thin Celery tasks: ids in, one service call. Each is safe to run twice."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task
from django.conf import settings

from webhooks.services import delivery, notify, purge


@shared_task(
    ignore_result=True,
    # The socket timeout bounds each read, not a receiver that trickles bytes: the whole attempt
    # is cut short well inside its lease (timeout + 60 s), so it never runs beside its retry.
    time_limit=int(settings.WEBHOOKS_TIMEOUT_SECONDS) + 30,
)
def delivery_attempt(delivery_id: int) -> str:
    """One attempt of a delivery if it is due; a retry due soon is queued with its countdown,
    a later one is left to the sweep. (Not acks_late: an attempt cut short is retried by the
    sweep when its lease ends, never sent twice at once.)"""
    result = delivery.delivery_attempt(delivery_id=delivery_id)
    if result.retry_in is not None and result.retry_in <= settings.WEBHOOKS_COUNTDOWN_MAX_SECONDS:
        delivery_attempt.apply_async(args=(delivery_id,), countdown=result.retry_in)
    return result.state


@shared_task(acks_late=True, ignore_result=True)
def deliveries_sweep() -> int:
    """Queue the attempts that are due (Celery beat, every WEBHOOKS_SWEEP_SECONDS)."""
    due = delivery.deliveries_due()
    for delivery_id in due:
        delivery_attempt.delay(delivery_id)
    return len(due)


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def endpoint_disabled_notify(endpoint_id: int) -> str:
    return notify.endpoint_disabled_notify(endpoint_id=endpoint_id)


@shared_task(acks_late=True, ignore_result=True)
def webhooks_purge() -> dict[str, int]:
    """Forget attempts, deliveries and events past the retention (Celery beat, daily)."""
    return purge.webhooks_purge()
