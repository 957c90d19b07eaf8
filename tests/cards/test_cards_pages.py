"""Issued cards in the portal: live generation progress on the order page (and its JSON), and the
card lists of the company and of one order, with filters, serial search and keyset pages."""

# Orders, batches and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from cards import codes
from cards.models import BatchStatus, Card, CardStatus, Chunk, Order, OrderStatus
from cards.services import issuance
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from portal.models import Company, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

NEEDS_2FA = {Role.OWNER, Role.APPROVER, Role.FINANCE}
CARDS = "/cards/"


# --- Builders shared by the issuance page, API, admin and re-encryption tests -------------------


@dataclass
class Buyer:
    company: Company
    people: dict[str, User]

    def client(self, role: str = Role.VIEWER) -> Client:
        client = Client(headers={"accept-language": "en"})
        sign_in(client, self.people[role], second_factor=role in NEEDS_2FA)
        return client


def buyer() -> Buyer:
    company = factories.company(approval_threshold="1000000.00")
    people = factories.team(company)
    factories.credit_line(company, "1000000.00")
    return Buyer(company=company, people=people)


def funded_order(who: Buyer, *lines: tuple[str, int, str]) -> Order:
    """A funded credit order; each line is (face value, quantity, recipient name)."""
    product = factories.product()
    order = order_create(
        company=who.company,
        actor=who.people[Role.PURCHASER],
        lines=[
            LineInput(
                product=str(product.public_id),
                face_value=face,
                quantity=quantity,
                recipient_name=recipient,
            )
            for face, quantity, recipient in lines
        ],
    )
    order = order_submit(order=order, actor=who.people[Role.PURCHASER])
    assert order.status == OrderStatus.FUNDED
    return order


def run_chunks(order: Order, *, limit: int | None = None) -> None:
    """Generate the order's chunks in-process, as the workers would (the first ``limit`` only)."""
    chunks = Chunk.objects.filter(batch__order=order).order_by("pk")
    for chunk in chunks[:limit] if limit is not None else chunks:
        issuance.chunk_generate(chunk_id=chunk.pk)


def issued_order(who: Buyer, *lines: tuple[str, int, str]) -> Order:
    """An order whose cards are all generated (the order is fulfilled)."""
    order = funded_order(who, *lines)
    order_begin_fulfilment(order_id=order.pk)
    run_chunks(order)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def secrets_of(card: Card) -> list[str]:
    """Every form a card's secret could take in a response: the code as shown, as typed, its
    ciphertext and digest in hex and base64."""
    code = codes.reveal(
        serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
    )
    blobs = [bytes(card.ciphertext), bytes(card.digest)]
    return [
        code,
        code.replace("-", ""),
        *(blob.hex() for blob in blobs),
        *(base64.b64encode(blob).decode() for blob in blobs),
    ]


def assert_no_secret(body: str, cards: list[Card]) -> None:
    for card in cards:
        for secret in secrets_of(card):
            assert secret not in body


@pytest.fixture
def small_chunks(settings: Settings) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40


@pytest.fixture
def acme(small_chunks: None) -> Buyer:
    return buyer()


@pytest.fixture
def order(acme: Buyer) -> Order:
    """70 cards: line 1 of 60 cards of ¥100 for 张三, line 2 of 10 of ¥200 for nobody named."""
    return issued_order(acme, ("100", 60, "张三"), ("200", 10, ""))


def rows_of(response: Any) -> list[str]:
    """The serials listed on a card list page, in order."""
    return [card.serial_display for card in response.context["page"].cards]


# --- Progress ------------------------------------------------------------------------------------


def test_progress_json_counts_the_cards_generated_so_far_per_batch(acme: Buyer) -> None:
    # Given an order of 60 + 10 cards of which the first chunk (40 cards of line 1) is done
    order = funded_order(acme, ("100", 60, "张三"), ("200", 10, ""))
    order_begin_fulfilment(order_id=order.pk)
    run_chunks(order, limit=1)
    # When any member asks for its progress
    response = acme.client(Role.VIEWER).get(f"/orders/{order.number}/progress.json")
    # Then each line's batch reports generated / ordered, percent, rate and time left
    assert response.status_code == HTTPStatus.OK
    assert response["Cache-Control"].startswith("max-age=0")
    data = response.json()
    assert data["status"] == OrderStatus.FULFILLING
    assert data["fulfilling"] is True
    assert (data["generated"], data["quantity"]) == (40, 70)
    first, second = data["batches"]
    assert (first["line"], first["generated"], first["quantity"]) == (1, 40, 60)
    assert first["percent"] == 66.7
    assert first["status"] == BatchStatus.GENERATING
    assert first["rate_per_s"] > 0
    assert first["eta_seconds"] is not None
    assert first["face_value"] == "100.00"
    assert first["counts_text"] == "40 of 60 cards"
    assert first["rate_text"].endswith("cards/s")
    assert first["eta_text"]
    assert (second["line"], second["generated"], second["percent"]) == (2, 0, 0.0)
    assert second["status"] == BatchStatus.PENDING
    assert second["eta_seconds"] is None


def test_progress_json_of_a_finished_order_says_it_is_no_longer_generating(
    acme: Buyer, order: Order
) -> None:
    data = acme.client().get(f"/orders/{order.number}/progress.json").json()
    assert data["status"] == OrderStatus.FULFILLED
    assert data["fulfilling"] is False
    assert [(b["generated"], b["percent"], b["status"]) for b in data["batches"]] == [
        (60, 100.0, BatchStatus.READY),
        (10, 100.0, BatchStatus.READY),
    ]
    assert all(b["eta_seconds"] is None and b["eta_text"] == "" for b in data["batches"])


def test_order_page_shows_a_progress_bar_per_batch_that_the_script_keeps_polling(
    acme: Buyer,
) -> None:
    order = funded_order(acme, ("100", 60, "张三"), ("200", 10, ""))
    order_begin_fulfilment(order_id=order.pk)
    run_chunks(order, limit=1)
    page = acme.client(Role.OWNER).get(f"/orders/{order.number}/").content.decode()
    assert 'data-testid="order-progress"' in page
    assert f'data-progress-url="/orders/{order.number}/progress.json"' in page
    assert "data-progress-poll" in page
    assert page.count('data-testid="batch-progress"') == 2
    assert '<progress max="60" value="40"' in page
    assert '<progress max="10" value="0"' in page
    assert "40 of 60 cards" in page
    assert "Gift card" in page
    assert "¥100.00" in page
    assert "¥200.00" in page
    assert "<script>" not in page
    assert "onclick" not in page


def test_a_finished_order_shows_full_bars_without_polling_and_links_to_its_cards(
    acme: Buyer, order: Order
) -> None:
    page = acme.client().get(f"/orders/{order.number}/").content.decode()
    assert 'data-testid="order-progress"' in page
    assert "data-progress-poll" not in page
    assert '<progress max="60" value="60"' in page
    assert f'href="/orders/{order.number}/cards/"' in page


def test_an_order_not_yet_generating_has_no_progress_panel(acme: Buyer) -> None:
    order = funded_order(acme, ("100", 5, ""))
    page = acme.client().get(f"/orders/{order.number}/").content.decode()
    assert 'data-testid="order-progress"' not in page


def test_a_failed_batch_shows_its_reason_and_asks_to_contact_support(acme: Buyer) -> None:
    order = funded_order(acme, ("100", 60, ""))
    order_begin_fulfilment(order_id=order.pk)
    chunk = Chunk.objects.filter(batch__order=order).order_by("index").first()
    issuance.chunk_record_failure(chunk_id=chunk.pk, error=RuntimeError("disk full"), final=True)
    client = acme.client()
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert "Failed" in page
    assert "disk full" in page
    assert "Contact support" in page
    batch = client.get(f"/orders/{order.number}/progress.json").json()["batches"][0]
    assert batch["status"] == BatchStatus.FAILED
    assert "Contact support" in batch["failure_text"]
    assert f"order {order.number}, line 1" in batch["failure_text"]


def test_another_companys_progress_and_cards_are_not_found(acme: Buyer, order: Order) -> None:
    stranger = buyer().client(Role.OWNER)
    for path in (
        f"/orders/{order.number}/progress.json",
        f"/orders/{order.number}/cards/",
    ):
        assert stranger.get(path).status_code == HTTPStatus.NOT_FOUND
    page = stranger.get(CARDS)
    assert page.status_code == HTTPStatus.OK
    assert rows_of(page) == []


def test_progress_needs_a_signed_in_member(order: Order) -> None:
    response = Client().get(f"/orders/{order.number}/progress.json")
    assert response.status_code == HTTPStatus.FOUND
    assert "/login" in response["Location"]


# --- Card lists ----------------------------------------------------------------------------------


def test_a_viewer_sees_the_orders_cards_with_their_public_facts(acme: Buyer, order: Order) -> None:
    response = acme.client(Role.VIEWER).get(f"/orders/{order.number}/cards/")
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    first = Card.objects.filter(batch__order=order).order_by("serial").first()
    assert first.serial_display in page
    assert len(first.serial_display) == 16
    assert f"···{first.last4}" in page
    assert "¥100.00" in page
    assert "Active" in page
    assert first.expires_at.strftime("%Y-") in page
    assert "张三" in page
    assert order.number in page
    assert 'data-testid="card-total">70 cards' in page


def test_the_card_list_pages_by_serial_fifty_at_a_time(acme: Buyer, order: Order) -> None:
    client = acme.client()
    serials = [c.serial_display for c in Card.objects.filter(batch__order=order)]
    first = client.get(f"/orders/{order.number}/cards/")
    assert rows_of(first) == serials[:50]
    assert first.context["page"].has_next
    assert not first.context["page"].has_previous
    second = client.get(f"/orders/{order.number}/cards/", {"after": serials[49]})
    assert rows_of(second) == serials[50:]
    assert second.context["page"].has_previous
    assert not second.context["page"].has_next
    back = client.get(f"/orders/{order.number}/cards/", {"before": serials[50]})
    assert rows_of(back) == serials[:50]
    assert not back.context["page"].has_previous
    assert f"after={serials[49]}" in first.content.decode()
    assert f"before={serials[50]}" in second.content.decode()


def test_a_card_list_page_neither_counts_cards_nor_loads_their_secrets(
    acme: Buyer, order: Order
) -> None:
    client = acme.client()
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/orders/{order.number}/cards/", {"status": "active"})
    card_queries = [q["sql"] for q in queries.captured_queries if '"cards_card"' in q["sql"]]
    assert card_queries
    for sql in card_queries:
        assert "COUNT(" not in sql.upper()
        assert '"ciphertext"' not in sql
        assert '"digest"' not in sql
        assert "LIMIT 51" in sql


def test_the_company_list_holds_every_order_and_filters_by_order(acme: Buyer, order: Order) -> None:
    other = issued_order(acme, ("500", 3, "李四"))
    client = acme.client()
    everything = client.get(CARDS)
    assert everything.context["total"] == 73
    assert len(rows_of(everything)) == 50
    only_other = client.get(CARDS, {"order": other.number.lower()})
    assert rows_of(only_other) == [
        c.serial_display for c in Card.objects.filter(batch__order=other)
    ]
    assert "李四" in only_other.content.decode()


def test_cards_filter_by_status(acme: Buyer, order: Order) -> None:
    frozen = Card.objects.filter(batch__order=order).order_by("serial")[5]
    Card.objects.filter(pk=frozen.pk).update(status=CardStatus.FROZEN)
    response = acme.client().get(CARDS, {"status": "frozen"})
    assert rows_of(response) == [frozen.serial_display]
    assert response.context["total"] is None


def test_search_by_full_serial_with_spaces_or_by_its_first_digits(
    acme: Buyer, order: Order
) -> None:
    cards = list(Card.objects.filter(batch__order=order).order_by("serial"))
    target = cards[12].serial_display
    spaced = " ".join(target[i : i + 4] for i in range(0, 16, 4))
    client = acme.client()
    assert rows_of(client.get(CARDS, {"serial": spaced})) == [target]
    prefix = target[:15]
    expected = [c.serial_display for c in cards if c.serial_display.startswith(prefix)]
    assert rows_of(client.get(CARDS, {"serial": prefix})) == expected
    assert target in expected
    assert len(expected) <= 10


def test_a_serial_search_that_is_not_digits_explains_itself(acme: Buyer, order: Order) -> None:
    response = acme.client().get(CARDS, {"serial": "ABCD-EFGH"})
    assert rows_of(response) == []
    assert "is not a card serial" in response.content.decode()


def test_the_card_list_never_shows_a_code_or_its_ciphertext(acme: Buyer, order: Order) -> None:
    cards = list(Card.objects.filter(batch__order=order).order_by("serial")[:3])
    client = acme.client(Role.FINANCE)
    body = "".join(
        [
            client.get(f"/orders/{order.number}/cards/").content.decode(),
            client.get(CARDS).content.decode(),
            client.get(f"/orders/{order.number}/").content.decode(),
            json.dumps(client.get(f"/orders/{order.number}/progress.json").json()),
        ]
    )
    assert_no_secret(body, cards)


def test_the_navigation_links_to_the_cards(acme: Buyer) -> None:
    page = acme.client().get("/cards/").content.decode()
    assert 'href="/cards/"' in page
    assert "No cards yet" in page
