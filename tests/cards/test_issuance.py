"""The issuance engine, run in-process: batches, chunks, idempotency, finalising, ledger."""

# Cards and batches looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Account
from billing.services.ledger import account_balance, account_get
from cards import codes
from cards.models import Batch, BatchStatus, Card, CardType, Chunk, ChunkStatus, OrderStatus
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


# --- The bulk path: serials from a table, codes by column, tuples built for binary COPY ----------


@pytest.mark.parametrize(("first", "count"), [(1, 2_500), (998, 5), (999_999_990, 30)])
def test_bulk_serials_equal_the_one_by_one_serials(first, count):
    expected = [int(codes.serial_for(n)) for n in range(first, first + count)]
    assert codes.serial_numbers(first, count) == expected


def test_a_generated_block_holds_codes_that_reveal_check_and_digest_to_its_columns():
    block = codes.generate_block(4_990, 25)
    assert len(set(block.digests)) == 25
    assert {len(ct) for ct in block.ciphertexts} == {codes.CIPHERTEXT_BYTES}
    for serial, digest, ciphertext, last4 in zip(
        block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
    ):
        shown = codes.reveal(serial=f"{serial:016d}", key_id=block.key_id, ciphertext=ciphertext)
        canonical = codes.normalize_code(shown)
        assert codes.code_digest(canonical) == digest
        assert canonical[20:24].encode() == last4


def test_cards_loaded_in_several_copy_blocks_carry_every_column(funded_order, monkeypatch):
    monkeypatch.setattr(issuance, "COPY_BLOCK", 7)
    order_begin_fulfilment(order_id=funded_order.pk)
    batch = Batch.objects.get(order=funded_order, line__position=1)
    chunk = batch.chunks.order_by("index").first()
    assert issuance.chunk_generate(chunk_id=chunk.pk) == "done"
    cards = list(batch.cards.order_by("serial"))
    assert len(cards) == 40
    first = int(codes.serial_for(batch.first_serial)) // 10
    assert [c.serial // 10 for c in cards] == list(range(first, first + 40))
    for card in cards:
        assert (card.face_value, card.balance, card.status) == (
            Decimal("100.00"),
            Decimal("100.00"),
            "active",
        )
        assert card.expires_at == batch.expires_at
        shown = codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        canonical = codes.normalize_code(shown)
        assert codes.code_digest(canonical) == bytes(card.digest)
        assert card.last4 == canonical[20:24]


def test_cards_of_a_product_without_expiry_load_with_no_expiry(settings):
    settings.ISSUANCE_CHUNK_SIZE = 40
    company = factories.company(approval_threshold="1000000.00")
    people = factories.team(company)
    factories.credit_line(company, "100000.00")
    product = factories.product(card_type=CardType.REGISTERED, face_values=["500"])
    order = order_create(
        company=company,
        actor=people["purchaser"],
        registration=factories.registration(),
        lines=[LineInput(product=str(product.public_id), face_value="500", quantity=3)],
    )
    order = order_submit(order=order, actor=people["purchaser"])
    order_begin_fulfilment(order_id=order.pk)
    run_all_chunks(order)
    assert (
        list(Card.objects.filter(batch__order=order).values_list("expires_at", flat=True))
        == [None] * 3
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
