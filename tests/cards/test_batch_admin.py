"""Operators and issuance in the admin: failed batches retried through the service with a message
per batch, cards read-only and searchable by exact serial only (never by code), card
transactions read-only; no code, digest or ciphertext on any admin page."""

# Batches and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from cards import codes
from cards.audit import CardsAction
from cards.models import Batch, BatchStatus, Card, CardTransaction, Chunk, ChunkStatus, Order
from cards.services import issuance
from cards.services.workflow import order_begin_fulfilment
from portal.models import AuditEvent, User
from tests.cards.test_cards_pages import (
    Buyer,
    assert_no_secret,
    buyer,
    funded_order,
    issued_order,
    run_chunks,
)
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

BATCHES = "/ops/cards/batch/"
CARDS = "/ops/cards/card/"
TRANSACTIONS = "/ops/cards/cardtransaction/"
EN = {"Accept-Language": "en"}


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def admin_client(client: Client, ops: User) -> Client:
    sign_in(client, ops, second_factor=True)
    return client


@pytest.fixture
def acme(settings) -> Buyer:
    settings.ISSUANCE_CHUNK_SIZE = 40
    return buyer()


@pytest.fixture
def order(acme: Buyer) -> Order:
    return issued_order(acme, ("100", 60, "张三"), ("200", 10, ""))


def failed_batch(acme: Buyer) -> tuple[Order, Batch]:
    """An order whose 60-card batch failed after its first 40 cards."""
    order = funded_order(acme, ("100", 60, ""))
    order_begin_fulfilment(order_id=order.pk)
    run_chunks(order, limit=1)
    batch = order.batches.get()
    last = batch.chunks.order_by("index").last()
    issuance.chunk_record_failure(chunk_id=last.pk, error=RuntimeError("disk full"), final=True)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    return order, batch


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_batch_list_shows_progress_status_and_the_failure_reason(
    admin_client: Client, acme: Buyer
) -> None:
    order, _batch = failed_batch(acme)
    page = admin_client.get(BATCHES, headers=EN).content.decode()
    assert order.number in page
    assert "Failed" in page
    assert "disk full" in page
    assert "Retry failed batches" in page


def test_retrying_a_failed_batch_sends_its_unfinished_parts_again(
    admin_client: Client, acme: Buyer, order: Order
) -> None:
    failed_order, batch = failed_batch(acme)
    ready = order.batches.order_by("pk").first()
    response = admin_client.post(
        BATCHES,
        {"action": "retry_failed", ACTION_CHECKBOX_NAME: [batch.pk, ready.pk]},
        headers=EN,
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    said = messages_of(response)
    assert f"Order {failed_order.number}, line 1: 1 part sent to the workers again." in said
    assert any(f"Order {order.number}, line 1: not failed" in m for m in said)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.GENERATING
    assert batch.failure_reason == ""
    assert set(batch.chunks.values_list("status", flat=True)) == {
        ChunkStatus.DONE,
        ChunkStatus.PENDING,
    }
    assert AuditEvent.objects.filter(action=CardsAction.BATCH_RETRIED).count() == 1
    # The workers pick the part up again and the batch completes
    run_chunks(failed_order)
    issuance.batch_finalise(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.READY
    assert batch.cards.count() == 60


def test_an_operator_without_the_change_permission_cannot_retry(
    client: Client, acme: Buyer
) -> None:
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user("look@issuer.example", "Correct-Horse-42", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_batch"))
    sign_in(client, viewer, second_factor=True)
    order, batch = failed_batch(acme)
    response = client.get(BATCHES, headers=EN)
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert order.number in page
    assert "Retry failed batches" not in page
    client.post(BATCHES, {"action": "retry_failed", ACTION_CHECKBOX_NAME: [batch.pk]})
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    assert not Chunk.objects.filter(batch=batch, status=ChunkStatus.PENDING, attempts=0).exists()


def test_card_search_finds_one_exact_serial_and_nothing_for_a_code(
    admin_client: Client, order: Order
) -> None:
    cards = list(Card.objects.filter(batch__order=order).order_by("serial"))
    target = cards[7]
    found = admin_client.get(CARDS, {"q": target.serial_display}, headers=EN)
    assert found.status_code == HTTPStatus.OK
    assert [c.pk for c in found.context["cl"].result_list] == [target.pk]
    spaced = " ".join(target.serial_display[i : i + 4] for i in range(0, 16, 4))
    assert [c.pk for c in admin_client.get(CARDS, {"q": spaced}).context["cl"].result_list] == [
        target.pk
    ]
    code = codes.reveal(
        serial=target.serial_display, key_id=target.key_id, ciphertext=bytes(target.ciphertext)
    )
    for term in (code, code.replace("-", ""), target.last4, target.serial_display[:12]):
        result = admin_client.get(CARDS, {"q": term}, headers=EN).context["cl"].result_list
        assert list(result) == []


def test_card_pages_are_read_only_and_never_show_secrets(
    admin_client: Client, order: Order
) -> None:
    cards = list(Card.objects.filter(batch__order=order).order_by("serial")[:3])
    card = cards[0]
    listing = admin_client.get(CARDS, headers=EN)
    detail = admin_client.get(f"{CARDS}{card.pk}/change/", headers=EN)
    assert detail.status_code == HTTPStatus.OK
    form_fields = set(detail.context["adminform"].form.fields)
    assert not form_fields & {"digest", "ciphertext", "key_id"}
    page = listing.content.decode() + detail.content.decode()
    assert card.serial_display in page
    assert f"···{card.last4}" in page
    assert "Ciphertext" not in page
    assert "Digest" not in page
    assert "Key id" not in page
    assert_no_secret(page, cards)
    assert admin_client.get(f"{CARDS}add/").status_code == HTTPStatus.FORBIDDEN
    assert admin_client.get(f"{CARDS}{card.pk}/delete/").status_code == HTTPStatus.FORBIDDEN
    before = Card.objects.get(pk=card.pk).balance
    admin_client.post(f"{CARDS}{card.pk}/change/", {"balance": "1.00", "status": "voided"})
    assert Card.objects.get(pk=card.pk).balance == before


def test_card_transactions_are_listed_read_only_and_searchable_by_serial(
    admin_client: Client, order: Order
) -> None:
    card = Card.objects.filter(batch__order=order).order_by("serial")[0]
    movement = CardTransaction.objects.create(
        card=card,
        kind=CardTransaction.Kind.REDEEM,
        amount=Decimal("-30.00"),
        balance_after=Decimal("70.00"),
        merchant_reference="POS-1",
    )
    listing = admin_client.get(TRANSACTIONS, {"q": card.serial_display}, headers=EN)
    assert [t.pk for t in listing.context["cl"].result_list] == [movement.pk]
    assert "POS-1" in listing.content.decode()
    assert list(admin_client.get(TRANSACTIONS, {"q": "POS-1"}).context["cl"].result_list) == []
    detail = admin_client.get(f"{TRANSACTIONS}{movement.pk}/change/", headers=EN)
    assert detail.status_code == HTTPStatus.OK
    assert_no_secret(listing.content.decode() + detail.content.decode(), [card])
    assert admin_client.get(f"{TRANSACTIONS}add/").status_code == HTTPStatus.FORBIDDEN
    delete = admin_client.get(f"{TRANSACTIONS}{movement.pk}/delete/")
    assert delete.status_code == HTTPStatus.FORBIDDEN
