"""100 concurrent requests with one Idempotency-Key, on PostgreSQL with real connections: one
order, and every request gets its number."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import OperationalError, connection, connections

from cards.models import Order
from portal.models import IdempotencyRecord
from tests import factories
from tests.api.helpers import ORDERS, Api, buyer, line, order_body

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]

REPLAYS = 100


def _connection_slots() -> int:
    """As many simultaneous connections as the server can spare, leaving room for other users
    of the same server (max_connections is often exactly 100)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity)"
        )
        free = int(cursor.fetchone()[0])
    return max(10, min(REPLAYS, free - 20))


def test_concurrent_replays_of_one_key_create_one_order():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's unique index wait")
    product = factories.product()
    acme = buyer()
    body = order_body(line(product))
    barrier = threading.Barrier(REPLAYS)
    slots = threading.BoundedSemaphore(_connection_slots())
    results: list[Any] = [None] * REPLAYS

    def send(index: int) -> None:
        api = Api(acme.keys["purchaser"])
        barrier.wait()
        with slots:
            for attempt in range(20):
                try:
                    response = api.post(ORDERS, body, idempotency_key="storm-1")
                    results[index] = (
                        response.status_code,
                        response.json(),
                        response.get("Idempotent-Replayed"),
                    )
                    return
                except OperationalError as exc:  # the server is out of connections: retry
                    results[index] = exc
                    time.sleep(0.05 * (attempt + 1))
                finally:
                    connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(REPLAYS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    errors = [r for r in results if not isinstance(r, tuple)]
    assert not errors, errors[:3]
    assert Order.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    number = Order.objects.get().number
    assert {status for status, _body, _replayed in results} == {201}
    assert {body["number"] for _status, body, _replayed in results} == {number}
    replayed = [flag for _status, _body, flag in results]
    assert replayed.count(None) == 1
    assert replayed.count("true") == REPLAYS - 1
