"""One attempt of a delivery, its record, the retry schedule, and disabling a failing endpoint.

An attempt (1) claims the delivery in a short transaction (row lock, skip-locked: a duplicate
message does nothing; the attempt counter is incremented and the next attempt pushed past the
attempt's time limit, a lease a crashed worker leaves to the sweep), (2) sends with no
transaction open and nothing locked, (3) records the attempt and what follows: done, the next
attempt at the schedule's delay (``WEBHOOKS_RETRY_SCHEDULE``), or failed for good. An endpoint
whose attempts have all failed for ``WEBHOOKS_DISABLE_AFTER_DAYS`` is disabled, audited, and
its owners are emailed (after the commit, through the outbox).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from webhooks import signing, transport
from webhooks.audit import WebhookAction
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint

logger = logging.getLogger(__name__)

Outcome = DeliveryAttempt.Outcome
LEASE_EXTRA_SECONDS = 60


@dataclass(frozen=True)
class AttemptResult:
    state: str  # "succeeded", "retry", "failed", "cancelled", "not-due", "busy", "done"
    retry_in: float | None = None


@dataclass(frozen=True)
class _Claim:
    number: int
    url: str
    message_id: str
    body: bytes
    secrets: list[str]


def payload_bytes(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@transaction.atomic
def _claim(delivery_id: int) -> _Claim | AttemptResult:
    delivery = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("event", "endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        exists = Delivery.objects.filter(pk=delivery_id).exists()
        return AttemptResult("busy" if exists else "done")
    if delivery.status != Delivery.Status.PENDING:
        return AttemptResult("done")
    now = timezone.now()
    if delivery.endpoint.disabled_at is not None:
        delivery.status = Delivery.Status.CANCELLED
        delivery.finished_at = now
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "finished_at", "next_attempt_at"])
        return AttemptResult("cancelled")
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return AttemptResult("not-due")
    delivery.attempt_count += 1
    lease = settings.WEBHOOKS_TIMEOUT_SECONDS + LEASE_EXTRA_SECONDS
    delivery.next_attempt_at = now + datetime.timedelta(seconds=lease)
    delivery.save(update_fields=["attempt_count", "next_attempt_at"])
    return _Claim(
        number=delivery.attempt_count,
        url=delivery.endpoint.url,
        message_id=delivery.event.public_id,
        body=payload_bytes(delivery.event.payload),
        secrets=signing.secrets_in_force(delivery.endpoint, now=now),
    )


def delivery_attempt(*, delivery_id: int) -> AttemptResult:
    """Try the delivery once if it is due; returns what follows (``retry_in`` seconds)."""
    claim = _claim(delivery_id)
    if isinstance(claim, AttemptResult):
        return claim
    started = timezone.now()
    headers = signing.signed_headers(
        secrets_=claim.secrets, message_id=claim.message_id, body=claim.body, at=started
    )
    clock = time.monotonic()
    status: int | None = None
    body = ""
    error = ""
    try:
        response = transport.post(claim.url, body=claim.body, headers=headers)
    except transport.TargetRefused as exc:
        outcome, error = Outcome.REFUSED, str(exc)
    except TimeoutError:
        outcome, error = Outcome.TIMEOUT, "timeout"
    except OSError as exc:
        # The class and the system's words only (never the request: it is signed).
        outcome, error = Outcome.NETWORK_ERROR, f"{type(exc).__name__}: {exc.strerror or exc}"
    else:
        status, body = response.status, response.body
        outcome = Outcome.SUCCEEDED if 200 <= status < 300 else Outcome.HTTP_ERROR
    latency = int((time.monotonic() - clock) * 1000)
    return attempt_record(
        delivery_id=delivery_id,
        number=claim.number,
        started_at=started,
        outcome=outcome,
        latency_ms=latency,
        response_status=status,
        response_body=body,
        error=error[:200],
    )


@transaction.atomic
def attempt_record(
    *,
    delivery_id: int,
    number: int,
    started_at: datetime.datetime,
    outcome: str,
    latency_ms: int | None,
    response_status: int | None,
    response_body: str,
    error: str,
) -> AttemptResult:
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started_at,
        outcome=outcome,
        latency_ms=latency_ms,
        response_status=response_status,
        response_body=response_body[: transport.RESPONSE_KEEP_CHARS],
        error=error,
    )
    if delivery.status != Delivery.Status.PENDING or number != delivery.attempt_count:
        # An attempt that outlived its lease, answered after a later one: kept as a record,
        # but the delivery and the endpoint's health are the later attempt's.
        return AttemptResult("done")
    now = timezone.now()
    if outcome == Outcome.SUCCEEDED:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.finished_at = now
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "finished_at", "next_attempt_at"])
        endpoint.last_success_at = now
        endpoint.failing_since = None
        endpoint.consecutive_failures = 0
        endpoint.save(update_fields=["last_success_at", "failing_since", "consecutive_failures"])
        return AttemptResult("succeeded")
    endpoint.last_failure_at = now
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or started_at
    endpoint.save(update_fields=["last_failure_at", "consecutive_failures", "failing_since"])
    logger.info(
        "webhook delivery %s attempt %s to endpoint %s: %s %s",
        delivery.pk,
        number,
        endpoint.public_id,
        outcome,
        response_status or "",
    )
    if _failing_too_long(endpoint, now):
        endpoint_disable_failing(endpoint=endpoint, now=now)
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if endpoint.disabled_at is None and number < len(schedule):
        delay = float(schedule[number])
        delivery.next_attempt_at = now + datetime.timedelta(seconds=delay)
        delivery.save(update_fields=["next_attempt_at"])
        return AttemptResult("retry", retry_in=delay)
    delivery.status = (
        Delivery.Status.FAILED if endpoint.disabled_at is None else Delivery.Status.CANCELLED
    )
    delivery.finished_at = now
    delivery.next_attempt_at = None
    delivery.save(update_fields=["status", "finished_at", "next_attempt_at"])
    return AttemptResult("failed")


def _failing_too_long(endpoint: WebhookEndpoint, now: datetime.datetime) -> bool:
    if endpoint.disabled_at is not None or endpoint.failing_since is None:
        return False
    limit = datetime.timedelta(days=settings.WEBHOOKS_DISABLE_AFTER_DAYS)
    return now - endpoint.failing_since >= limit


def endpoint_disable_failing(*, endpoint: WebhookEndpoint, now: datetime.datetime) -> None:
    """Disable a locked endpoint that failed too long; its owners hear of it after commit."""
    endpoint.disabled_at = now
    endpoint.disabled_reason = WebhookEndpoint.DisabledReason.FAILING
    endpoint.save(update_fields=["disabled_at", "disabled_reason"])
    audit_record(
        action=WebhookAction.ENDPOINT_DISABLED,
        actor_label="system",
        company=endpoint.company,
        obj=endpoint,
        changes={
            "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
            "failures": endpoint.consecutive_failures,
        },
    )
    logger.warning("webhook endpoint %s disabled after failing", endpoint.public_id)
    from webhooks.tasks import endpoint_disabled_notify  # the tasks module imports the services

    outbox_enqueue(endpoint_disabled_notify, endpoint.pk)


def deliveries_due(*, grace_seconds: int = 10, limit: int = 1000) -> list[int]:
    """Pending deliveries whose attempt is due (a retry too far off for a countdown, a lost
    message, a lease a crashed worker left): the sweep queues them."""
    cutoff = timezone.now() - datetime.timedelta(seconds=grace_seconds)
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
