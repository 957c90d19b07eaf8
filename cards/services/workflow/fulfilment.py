"""Funded to fulfilled: starting card generation (and restarting stranded orders), and the
hand-over once every batch is ready."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import locks
from cards.audit import CardsAction
from cards.models import Order
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from webhooks.events import EventType

from .base import S, _move, order_event

# The logger keeps the name it had before the module became a package.
logger = logging.getLogger("cards.services.workflow")


@transaction.atomic
def order_begin_fulfilment(*, order_id: int) -> Order | None:
    """Funded → generating cards: one batch per line, its chunks queued once this commits.
    A second call does nothing."""
    from cards.services.issuance import batches_create, chunks_enqueue

    order = locks.lock_order(Order.objects.select_related("company"), pk=order_id)
    if order is None or order.status != S.FUNDED:
        return order
    _move(order, S.FULFILLING)
    order.save()
    batches = batches_create(order)
    chunk_ids = [c.pk for b in batches for c in b.chunks.all()]
    audit_record(
        action=CardsAction.ORDER_FULFILMENT_STARTED,
        company=order.company,
        obj=order,
        actor_label="system",
        changes={"cards": order.card_count, "batches": len(batches), "chunks": len(chunk_ids)},
    )
    transaction.on_commit(lambda: chunks_enqueue(chunk_ids))
    return order


def stranded_orders_start(*, stale_seconds: int | None = None, limit: int = 100) -> list[int]:
    """Start the fulfilment of orders funded longer than ``ORDER_FUNDED_STALE_SECONDS`` ago that
    never started (their start message was lost, or recorded before the outbox existed). The
    issuance sweep calls it every minute; a start already under way is not repeated (the order
    row is locked and re-checked). Returns the ids of the orders started."""
    stale = settings.ORDER_FUNDED_STALE_SECONDS if stale_seconds is None else stale_seconds
    cutoff = timezone.now() - datetime.timedelta(seconds=stale)
    stranded = list(
        Order.objects.filter(status=S.FUNDED, funded_at__lt=cutoff, batches__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    started = []
    for order_id in stranded:
        try:
            order = order_begin_fulfilment(order_id=order_id)
        except Exception:
            # One order that cannot start must not hold back the others (nor the chunk sweep).
            logger.exception("the stranded funded order %s could not be started", order_id)
            continue
        if order is not None and order.status == S.FULFILLING:
            started.append(order_id)
    if started:
        logger.warning("started the fulfilment of %s stranded funded order(s)", len(started))
    return started


def order_mark_fulfilled(*, order: Order) -> Order:
    """Every batch is ready: the order's cards can be delivered. The buyer hears of it."""
    _move(order, S.FULFILLED)
    order.save(update_fields=["status", "updated_at"])
    audit_record(
        action=CardsAction.ORDER_FULFILLED,
        company=order.company,
        obj=order,
        actor_label="system",
        changes={"cards": order.card_count},
    )
    order_event(order, EventType.ORDER_FULFILLED, cards=order.card_count)
    from cards.models import DeliveryMethod
    from cards.tasks import order_notify_ready, recipient_deliveries_create

    outbox_enqueue(order_notify_ready, order.pk)
    if order.delivery_method == DeliveryMethod.RECIPIENTS:
        outbox_enqueue(recipient_deliveries_create, order.pk)
    return order
