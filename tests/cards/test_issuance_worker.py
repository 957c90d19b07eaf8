"""The issuance engine with real Celery workers, PostgreSQL and Redis: a worker killed in the
middle of a batch, a chunk message delivered twice, a chunk whose message was lost.

Each test starts its own worker processes (``celery_worker_factory``) with small chunks, so an
order of a few thousand cards has many chunks; the shared worker is stopped meanwhile.
"""

# Orders and batches looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from celery.result import AsyncResult
from django.db import connection
from pytest_django.fixtures import Settings

from billing.models import JournalEntry
from cards import codes
from cards.models import Batch, BatchStatus, Card, Chunk, ChunkStatus, Order, OrderStatus
from cards.services import issuance
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from cards.tasks import issuance_generate_chunk, sweep_issuance
from portal.services import outbox
from tests import factories

if TYPE_CHECKING:
    from conftest import Worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]

CHUNK = 1_000
WORKER_ENV = {"ISSUANCE_CHUNK_SIZE": str(CHUNK)}
WAIT = 60.0


def order_funded(settings: Settings, quantities: list[int]) -> Order:
    """A funded credit order of bearer cards at 100 CNY, one line per quantity. Once submit
    commits, ``order_start_fulfilment`` goes to the broker (unless the test stopped it)."""
    # Thousands of cards at 100 CNY would otherwise go to an operator's risk review.
    settings.ORDER_PLATFORM_LIMIT = Decimal("900000000.00")
    settings.ORDER_VELOCITY_MAX_VALUE = Decimal("900000000.00")
    company = factories.company(approval_threshold="900000000.00")
    people = factories.team(company)
    factories.credit_line(company, "900000000.00")
    product = factories.product()
    order = order_create(
        company=company,
        actor=people["purchaser"],
        registration=factories.registration(),
        lines=[
            LineInput(product=str(product.public_id), face_value="100", quantity=quantity)
            for quantity in quantities
        ],
    )
    order = order_submit(order=order, actor=people["purchaser"])
    assert order.status == OrderStatus.FUNDED
    return order


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def order_status(order: Order) -> str:
    return Order.objects.filter(pk=order.pk).values_list("status", flat=True).get()


def chunk_counts(order: Order) -> dict[str, int]:
    chunks = Chunk.objects.filter(batch__order=order)
    return {
        "done": chunks.filter(status=ChunkStatus.DONE).count(),
        "all": chunks.count(),
    }


def cards_and_done_chunks(order: Order) -> tuple[int, int]:
    """Cards of the order and the cards its done chunks account for, in one snapshot."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM cards_card c JOIN cards_batch b ON b.id = c.batch_id "
            "        WHERE b.order_id = %s), "
            "       (SELECT coalesce(sum(ch.count), 0) FROM cards_chunk ch "
            "        JOIN cards_batch b ON b.id = ch.batch_id "
            "        WHERE b.order_id = %s AND ch.status = 'done')",
            [order.pk, order.pk],
        )
        cards, accounted = cursor.fetchone()
    return int(cards), int(accounted)


def loading_cards() -> bool:
    """A worker's transaction is in the middle of a chunk's COPY."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query LIKE 'COPY cards_card%%'"
        )
        return bool(cursor.fetchone()[0])


def assert_exactly_the_ordered_cards(order: Order, quantities: list[int]) -> None:
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    batches = list(order.batches.order_by("line__position"))
    assert [b.quantity for b in batches] == quantities
    for batch in batches:
        assert batch.status == BatchStatus.READY
        assert batch.generated == batch.quantity
        serials = list(batch.cards.order_by("serial").values_list("serial", flat=True))
        # Exactly the batch's block: no card missing, none twice, none outside it.
        first = int(codes.serial_for(batch.first_serial)) // 10
        assert [s // 10 for s in serials] == list(range(first, first + batch.quantity))
        assert all(codes.luhn_valid(f"{s:016d}") for s in serials)
        assert not batch.chunks.exclude(status=ChunkStatus.DONE).exists()
        assert (
            JournalEntry.objects.filter(
                kind="card_issuance", idempotency_key=f"card_issuance:{batch.public_id}"
            ).count()
            == 1
        )
    cards = Card.objects.filter(batch__order=order)
    assert cards.count() == sum(quantities)
    assert cards.values("digest").distinct().count() == sum(quantities)
    assert JournalEntry.objects.filter(kind="card_issuance", company=order.company).count() == len(
        batches
    )


def test_a_worker_killed_mid_batch_is_replaced_and_the_order_gets_exactly_its_cards(
    settings: Settings, celery_worker_factory: Callable[..., Worker]
) -> None:
    quantities = [10_000, 8_000, 7_000]
    doomed = celery_worker_factory(
        env=WORKER_ENV, concurrency=1, queues="default,codes", name="doomed"
    )
    order = order_funded(settings, quantities)

    wait_for(
        lambda: chunk_counts(order)["done"] >= 3 and loading_cards(),
        "a few chunks done and the next one being loaded",
    )
    doomed.kill()
    # The killed transaction is rolled back: every card belongs to a chunk marked done.
    wait_for(lambda: not loading_cards(), "the killed worker's transaction to end", 10)
    cards, accounted = cards_and_done_chunks(order)
    counts = chunk_counts(order)
    assert cards == accounted
    assert 3 <= counts["done"] < counts["all"] == 25
    assert order_status(order) == OrderStatus.FULFILLING

    # A new worker with beat: the sweep sends again the chunk the dead worker had taken.
    celery_worker_factory(
        env={**WORKER_ENV, "ISSUANCE_STALE_SECONDS": "2", "ISSUANCE_SWEEP_SECONDS": "1"},
        concurrency=2,
        queues="default,codes",
        beat=True,
        name="rescuer",
    )
    wait_for(lambda: order_status(order) == OrderStatus.FULFILLED, "the order to be fulfilled")
    assert_exactly_the_ordered_cards(order, quantities)


def test_a_chunk_message_delivered_twice_creates_no_extra_card(
    settings: Settings,
    celery_worker_factory: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.ISSUANCE_CHUNK_SIZE = CHUNK
    celery_worker_factory(env=WORKER_ENV, concurrency=2, queues="default,codes")
    # The test starts the fulfilment itself: its start message is not published.
    monkeypatch.setattr(outbox, "publish_after_commit", lambda message_id: None)
    order = order_funded(settings, [3_000, 2_500])
    sent: list[AsyncResult] = []

    def enqueue_twice(chunk_ids: list[int]) -> None:
        # Back to back: the two worker processes take the same chunk at the same time.
        for chunk_id in chunk_ids:
            sent.extend(
                issuance_generate_chunk.apply_async((chunk_id,), ignore_result=False)
                for _ in range(2)
            )

    monkeypatch.setattr(issuance, "chunks_enqueue", enqueue_twice)
    order_begin_fulfilment(order_id=order.pk)

    assert len(sent) == 2 * 6
    assert [result.get(timeout=WAIT) for result in sent] == ["done"] * len(sent)
    wait_for(lambda: order_status(order) == OrderStatus.FULFILLED, "the order to be fulfilled")
    assert_exactly_the_ordered_cards(order, [3_000, 2_500])


def test_a_chunk_whose_message_was_lost_is_sent_again_by_the_sweep(
    settings: Settings,
    celery_worker_factory: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.ISSUANCE_CHUNK_SIZE = CHUNK
    celery_worker_factory(
        env={**WORKER_ENV, "ISSUANCE_STALE_SECONDS": "1"}, concurrency=2, queues="default,codes"
    )
    # The test starts the fulfilment itself: its start message is not published.
    monkeypatch.setattr(outbox, "publish_after_commit", lambda message_id: None)
    order = order_funded(settings, [4_000])
    lost: list[int] = []

    def enqueue_all_but_one(chunk_ids: list[int]) -> None:
        lost.append(chunk_ids[1])
        for chunk_id in chunk_ids:
            if chunk_id != lost[0]:
                issuance_generate_chunk.delay(chunk_id)

    monkeypatch.setattr(issuance, "chunks_enqueue", enqueue_all_but_one)
    order_begin_fulfilment(order_id=order.pk)
    wait_for(lambda: chunk_counts(order)["done"] == 3, "the chunks whose messages were sent")
    time.sleep(1.2)  # older than ISSUANCE_STALE_SECONDS
    batch = Batch.objects.get(order=order)
    assert batch.status == BatchStatus.GENERATING
    assert batch.generated == 3_000
    assert Chunk.objects.get(pk=lost[0]).status == ChunkStatus.PENDING

    assert sweep_issuance.apply_async(ignore_result=False).get(timeout=WAIT) == 1
    wait_for(lambda: order_status(order) == OrderStatus.FULFILLED, "the order to be fulfilled")
    assert_exactly_the_ordered_cards(order, [4_000])
    assert Chunk.objects.get(pk=lost[0]).attempts == 1
