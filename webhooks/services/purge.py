"""Forget what is older than ``WEBHOOKS_RETENTION_DAYS``: attempts, finished deliveries, events
(with their deliveries). Run daily by Celery beat, in batches so no delete holds locks long.
The per-object sequence counters stay: a later event of an object continues its numbering."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from webhooks.models import Delivery, DeliveryAttempt, Event

BATCH = 5000


def _delete_in_batches[M: Model](queryset: QuerySet[M]) -> int:
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.values_list("pk", flat=True)[:BATCH])
            if not ids:
                return total
            queryset.model._default_manager.filter(pk__in=ids).delete()
        total += len(ids)


def webhooks_purge(*, now: datetime.datetime | None = None) -> dict[str, int]:
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.WEBHOOKS_RETENTION_DAYS)
    return {
        "attempts": _delete_in_batches(DeliveryAttempt.objects.filter(started_at__lt=cutoff)),
        "deliveries": _delete_in_batches(
            Delivery.objects.filter(created_at__lt=cutoff).exclude(status=Delivery.Status.PENDING)
        ),
        "events": _delete_in_batches(Event.objects.filter(created_at__lt=cutoff)),
    }
