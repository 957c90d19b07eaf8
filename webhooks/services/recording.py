"""``emit``: record an event in the domain transaction and queue its deliveries after the commit.

Called by the services at the point where the change happens (``cards``, ``billing``,
``expenses``), inside their transaction: the event, its sequence number and its deliveries
commit or roll back with the change. Deliveries are queued through the outbox
(``portal.services.outbox``), so nothing is sent in the request and nothing is lost when the
broker is away.

The sequence number is per object: the object's counter row (``ObjectSequence``) is created
or incremented by one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, which holds its row
lock until the transaction ends. A second transaction recording an event of the same object
waits for the first to commit, then reads its number: an object's events are numbered in
commit order, with no gap a rollback could leave a receiver waiting for (a rolled-back number
is taken again).

Card spend and expiry events (``only_when_subscribed``) are recorded only while an enabled
endpoint of the company subscribes to them. The merchant API's one-statement redemption checks
that in a clause of its own statement and leaves a subscribed company to the ORM path, which
calls ``emit``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import connection
from django.utils import timezone

from portal.models import Company
from portal.services.outbox import outbox_enqueue
from webhooks.events import PAYLOAD_VERSION, SPECS, object_id_of
from webhooks.models import Delivery, Event, ObjectSequence, WebhookEndpoint

logger = logging.getLogger(__name__)


def subscribed_endpoints(company_id: int, event_type: str) -> list[WebhookEndpoint]:
    """The company's enabled endpoints that subscribe to ``event_type`` (one query)."""
    endpoints = WebhookEndpoint.objects.filter(company_id=company_id, disabled_at__isnull=True)
    return [e for e in endpoints if e.subscribes(event_type)]


def _next_sequence(object_type: str, object_id: str) -> int:
    table = connection.ops.quote_name(ObjectSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (object_type, object_id, last_sequence) VALUES (%s, %s, 1) "  # noqa: S608
            "ON CONFLICT (object_type, object_id) "
            f"DO UPDATE SET last_sequence = {table}.last_sequence + 1 "
            "RETURNING last_sequence",
            [object_type, object_id],
        )
        row = cursor.fetchone()
    return int(row[0])


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # Decimals and dates as strings (money stays exact), through one canonical encoding.
    result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return result


def emit(
    company: Company | int, event_type: str, obj: object, data: dict[str, Any]
) -> Event | None:
    """Record ``event_type`` about ``obj`` for the company and queue a delivery to each enabled
    endpoint that subscribes to it, once the transaction commits. ``data`` is the event's
    ``data`` object: public ids and figures, never secrets. Returns the event (None when a spend
    event has no subscriber)."""
    if not connection.in_atomic_block:
        raise RuntimeError("webhooks.emit belongs inside the transaction of the change")
    spec = SPECS[event_type]
    company_id = company if isinstance(company, int) else company.pk
    endpoints = subscribed_endpoints(company_id, event_type)
    if spec.only_when_subscribed and not endpoints:
        return None
    object_id = object_id_of(event_type, obj)
    sequence = _next_sequence(spec.object_type, object_id)
    now = timezone.now()
    event = Event(
        company_id=company_id,
        type=event_type,
        object_type=spec.object_type,
        object_id=object_id,
        sequence=sequence,
        created_at=now,
    )
    event.payload = {
        "id": event.public_id,
        "type": event_type,
        "version": PAYLOAD_VERSION,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "object": {"type": spec.object_type, "id": object_id, "sequence": sequence},
        "data": _jsonable(data),
    }
    event.save(force_insert=True)
    for endpoint in endpoints:
        delivery_queue(event=event, endpoint=endpoint, replay=False)
    return event


def delivery_queue(*, event: Event, endpoint: WebhookEndpoint, replay: bool) -> Delivery:
    """A pending delivery of ``event`` to ``endpoint``, its first attempt queued after commit."""
    delivery = Delivery.objects.create(
        event=event, endpoint=endpoint, replay=replay, next_attempt_at=timezone.now()
    )
    from webhooks.tasks import delivery_attempt  # the tasks module imports the services

    outbox_enqueue(delivery_attempt, delivery.pk)
    return delivery
