"""Attempts, finished deliveries and events are kept WEBHOOKS_RETENTION_DAYS (90), then purged by
the daily beat task; what is younger stays, and an object's numbering continues."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from portal.models import Company, User
from tests import factories
from webhooks import tasks
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.services.purge import webhooks_purge

pytestmark = pytest.mark.django_db


def test_the_purge_runs_daily_and_forgets_what_is_older_than_90_days(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    deliver_queued: Callable[[], list[Any]],
) -> None:
    assert settings.WEBHOOKS_RETENTION_DAYS == 90
    assert (
        settings.CELERY_BEAT_SCHEDULE["webhooks-purge-daily"]["task"] == tasks.webhooks_purge.name
    )
    old_order = factories.submitted(company, owner)
    deliver_queued()
    long_ago = timezone.now() - datetime.timedelta(days=91)
    Event.objects.update(created_at=long_ago)
    Delivery.objects.update(created_at=long_ago)
    DeliveryAttempt.objects.update(started_at=long_ago)
    factories.submitted(company, owner)
    deliver_queued()
    recent_events = set(Event.objects.filter(created_at__gt=long_ago).values_list("pk", flat=True))

    removed = webhooks_purge()

    assert removed == {"attempts": 2, "deliveries": 2, "events": 3}
    assert set(Event.objects.values_list("pk", flat=True)) == recent_events
    assert DeliveryAttempt.objects.count() == 2
    # The old order's next event continues its numbering.
    from cards.services.workflow import order_cancel

    order_cancel(order=old_order, actor=owner, reason="late change")
    cancelled = Event.objects.get(type="order.cancelled")
    assert cancelled.sequence == 3
