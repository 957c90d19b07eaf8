"""The issuance engine, run in-process: batches, chunks, idempotency, finalising, ledger."""

# Cards and batches looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Account
from billing.services.ledger import account_balance, account_get
from cards import codes
from cards.models import Batch, BatchStatus, Card, Chunk, ChunkStatus, OrderStatus
from cards.services import issuance
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def funded_order(settings):
    settings.ISSUANCE_CHUNK_SIZE = 40
    company = factories.company(approval_threshold="1000000.00")
    people = factories.team(company)
    factories.credit_line(company, "100000.00")
    product = factories.product()
    order = order_create(
        company=company,
        actor=people["purchaser"],
        lines=[
            LineInput(product=str(product.public_id), face_value="100", quantity=60),
            LineInput(product=str(product.public_id), face_value="200", quantity=10),
        ],
    )
    order = order_submit(order=order, actor=people["purchaser"])
    assert order.status == OrderStatus.FUNDED
    return order


def run_all_chunks(order) -> None:
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)


def test_each_line_becomes_a_batch_split_into_chunks_with_a_gapless_serial_block(funded_order):
    order_begin_fulfilment(order_id=funded_order.pk)
    batches = list(funded_order.batches.order_by("line__position"))
    assert [(b.quantity, b.chunk_count) for b in batches] == [(60, 2), (10, 1)]
    assert [c.count for c in batches[0].chunks.order_by("index")] == [40, 20]
    assert batches[1].first_serial == batches[0].first_serial + 60


def test_running_every_chunk_twice_creates_exactly_the_ordered_cards(funded_order):
    order_begin_fulfilment(order_id=funded_order.pk)
    run_all_chunks(funded_order)
    run_all_chunks(funded_order)
    assert Card.objects.filter(batch__order=funded_order).count() == 70
    serials = list(
        Card.objects.filter(batch__order=funded_order)
        .order_by("serial")
        .values_list("serial", flat=True)
    )
    numbers = [s // 10 for s in serials]  # the serial without its check digit
    assert numbers == list(range(numbers[0], numbers[0] + 70))
    assert all(codes.luhn_valid(f"{s:016d}") for s in serials)
    funded_order.refresh_from_db()
    assert funded_order.status == OrderStatus.FULFILLED
    assert set(funded_order.batches.values_list("status", flat=True)) == {BatchStatus.READY}


def test_cards_start_at_face_value_with_the_products_validity(funded_order):
    order_begin_fulfilment(order_id=funded_order.pk)
    run_all_chunks(funded_order)
    card = Card.objects.filter(batch__line__position=2).first()
    assert card.balance == card.face_value == Decimal("200.00")
    months = (card.expires_at.year - card.created_at.year) * 12 + (
        card.expires_at.month - card.created_at.month
    )
    assert months == 36


def test_issuance_moves_the_face_value_to_live_card_liability_once_per_batch(funded_order):
    order_begin_fulfilment(order_id=funded_order.pk)
    run_all_chunks(funded_order)
    issuance.batch_finalise(batch_id=funded_order.batches.first().pk)
    assert account_balance(account_get(Account.Kind.CARD_LIABILITY)) == Decimal("-8000.00")
    assert account_balance(account_get(Account.Kind.CARDS_TO_ISSUE)) == Decimal("0.00")
    live = sum(Card.objects.values_list("balance", flat=True))
    assert -account_balance(account_get(Account.Kind.CARD_LIABILITY)) == live


def test_a_batch_with_a_missing_chunk_is_not_finalised(funded_order):
    order_begin_fulfilment(order_id=funded_order.pk)
    batch = Batch.objects.filter(order=funded_order).order_by("line__position")[0]
    first = batch.chunks.order_by("index").first()
    issuance.chunk_generate(chunk_id=first.pk)
    assert issuance.batch_finalise(batch_id=batch.pk) == "not-complete"
    batch.refresh_from_db()
    assert batch.status == BatchStatus.GENERATING
    assert batch.generated == 40


def test_a_chunk_that_keeps_failing_fails_its_batch_with_a_reason_and_can_be_retried(
    funded_order,
):
    order_begin_fulfilment(order_id=funded_order.pk)
    batch = Batch.objects.filter(order=funded_order).order_by("line__position")[0]
    chunk = batch.chunks.order_by("index").first()
    issuance.chunk_record_failure(chunk_id=chunk.pk, error=RuntimeError("disk full"), final=True)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    assert "Part 1 of 2" in batch.failure_reason
    assert "disk full" in batch.failure_reason
    assert issuance.chunk_generate(chunk_id=chunk.pk) == ChunkStatus.FAILED
    operator = factories.operator()
    assert issuance.batch_retry(batch=batch, actor=operator) == 2
    run_all_chunks(funded_order)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.READY
    assert batch.cards.count() == 60
