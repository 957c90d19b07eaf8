"""End to end with a real Celery worker, PostgreSQL and Redis: a committed change's event is
delivered by the worker (never in the request) to the suite's receiver, signed."""

from __future__ import annotations

import subprocess
import time

import pytest

from portal.models import Company, User
from tests import factories
from tests.webhooks.receiver import Receiver
from webhooks.models import Delivery, WebhookEndpoint

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_worker_delivers_the_event_after_the_commit(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    order = factories.submitted(company, owner)
    deadline = time.monotonic() + 120
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # polling a condition, with a generous limit
    assert len(receiver.received) == 2, "the worker delivered both events"
    assert all(r.payload is not None for r in receiver.received), "signatures verify"
    assert {r.payload["type"] for r in receiver.received} == {"order.submitted", "order.funded"}
    assert {r.payload["object"]["id"] for r in receiver.received} == {order.number}
    deadline = time.monotonic() + 30
    while (
        Delivery.objects.exclude(status=Delivery.Status.SUCCEEDED).exists()
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
