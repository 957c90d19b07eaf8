"""Cards through the API: /api/v1/cards and /api/v1/orders/{number}/cards list public facts only,
scoped to the key's company, filtered, and paged by a cursor over the serial (never counted)."""

# Orders and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.dateparse import parse_datetime

from cards.models import Card, CardStatus, Order
from portal.models import ApiKey, Role
from tests.api.helpers import Api, key_for
from tests.cards.test_cards_pages import Buyer, assert_no_secret, buyer, issued_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CARDS = "/api/v1/cards"
FIELDS = {
    "serial",
    "last4",
    "face_value",
    "balance",
    "status",
    "status_label",
    "expires_at",
    "order",
    "line",
    "recipient_name",
    "last_activity_at",
    "employee_id",
    "cost_center",
}


def order_cards(number: str) -> str:
    return f"/api/v1/orders/{number}/cards"


@pytest.fixture
def acme(settings) -> Buyer:
    settings.ISSUANCE_CHUNK_SIZE = 40
    return buyer()


@pytest.fixture
def order(acme: Buyer) -> Order:
    return issued_order(acme, ("100", 60, "张三"), ("200", 10, ""))


def api_of(who: Buyer, role: str = Role.VIEWER, scopes: list[str] | None = None) -> Api:
    return Api(key_for(who.company, who.people[role], scopes or [ApiKey.Scope.ORDERS_READ]))


def serials(response) -> list[str]:
    return [card["serial"] for card in response.json()["results"]]


def test_an_orders_cards_come_with_public_facts_only(acme: Buyer, order: Order) -> None:
    response = api_of(acme).get(order_cards(order.number))
    assert response.status_code == HTTPStatus.OK, response.json()
    body = response.json()
    assert "count" not in body
    first = body["results"][0]
    assert set(first) == FIELDS
    card = Card.objects.filter(batch__order=order).order_by("serial").first()
    assert first["serial"] == card.serial_display
    assert isinstance(first["serial"], str)
    assert len(first["serial"]) == 16
    assert first["last4"] == card.last4
    assert (first["face_value"], first["balance"]) == ("100.00", "100.00")
    assert first["status"] == CardStatus.ACTIVE
    assert parse_datetime(first["expires_at"]) == card.expires_at
    assert (first["order"], first["line"], first["recipient_name"]) == (order.number, 1, "张三")
    last = body["results"][-1]
    assert last["line"] == 1


def test_pages_follow_a_cursor_over_the_serial(acme: Buyer, order: Order) -> None:
    api = api_of(acme)
    everything = [c.serial_display for c in Card.objects.filter(batch__order=order)]
    first = api.get(order_cards(order.number))
    assert serials(first) == everything[:50]
    assert first.json()["previous"] is None
    second = api.client.get(first.json()["next"])
    assert serials(second) == everything[50:]
    assert second.json()["next"] is None
    assert [c["line"] for c in second.json()["results"]][-10:] == [2] * 10
    smaller = api.get(order_cards(order.number), page_size=7)
    assert serials(smaller) == everything[:7]


def test_listing_cards_neither_counts_them_nor_reads_their_secrets(
    acme: Buyer, order: Order
) -> None:
    api = api_of(acme)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(CARDS, status="active").status_code == HTTPStatus.OK
    card_queries = [q["sql"] for q in queries.captured_queries if '"cards_card"' in q["sql"]]
    assert card_queries
    for sql in card_queries:
        assert "COUNT(" not in sql.upper()
        assert '"ciphertext"' not in sql
        assert '"digest"' not in sql
        assert '"key_id"' not in sql


def test_the_company_list_filters_by_order_status_and_serial(acme: Buyer, order: Order) -> None:
    other = issued_order(acme, ("500", 3, "李四"))
    api = api_of(acme)
    assert len(serials(api.get(CARDS, page_size=500))) == 73
    of_other = api.get(CARDS, order=other.number)
    assert [c["recipient_name"] for c in of_other.json()["results"]] == ["李四"] * 3
    frozen = Card.objects.filter(batch__order=order).order_by("serial")[3]
    Card.objects.filter(pk=frozen.pk).update(status=CardStatus.FROZEN)
    assert serials(api.get(CARDS, status="frozen")) == [frozen.serial_display]
    assert serials(api.get(CARDS, serial=frozen.serial_display)) == [frozen.serial_display]
    prefix = frozen.serial_display[:15]
    assert frozen.serial_display in serials(api.get(CARDS, serial=prefix))
    assert all(s.startswith(prefix) for s in serials(api.get(CARDS, serial=prefix)))
    assert serials(api.get(order_cards(order.number), status="frozen")) == [frozen.serial_display]


def test_bad_filters_are_refused_with_the_usual_error_shape(acme: Buyer, order: Order) -> None:
    api = api_of(acme)
    bad_status = api.get(CARDS, status="lost")
    assert bad_status.status_code == HTTPStatus.BAD_REQUEST
    assert bad_status.json()["code"] == "invalid"
    assert "status" in bad_status.json()["errors"]
    bad_serial = api.get(CARDS, serial="ABCD")
    assert bad_serial.status_code == HTTPStatus.BAD_REQUEST
    assert "is not a card serial" in bad_serial.json()["detail"]


def test_another_companys_order_is_not_found_and_its_cards_are_not_listed(
    acme: Buyer, order: Order
) -> None:
    stranger = api_of(buyer())
    response = stranger.get(order_cards(order.number))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "not_found"
    assert serials(stranger.get(CARDS)) == []
    assert serials(stranger.get(CARDS, order=order.number)) == []
    assert api_of(acme).get(order_cards("PO000000NOPE00")).status_code == HTTPStatus.NOT_FOUND


def test_cards_need_the_orders_read_scope(acme: Buyer, order: Order) -> None:
    api = api_of(acme, Role.OWNER, scopes=[ApiKey.Scope.INVOICES_READ])
    for path in (CARDS, order_cards(order.number)):
        response = api.get(path)
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert "orders:read" in response.json()["detail"]
    assert Api(None).get(CARDS).status_code == HTTPStatus.UNAUTHORIZED


def test_no_code_ciphertext_or_digest_in_any_card_response(acme: Buyer, order: Order) -> None:
    api = api_of(acme, Role.FINANCE)
    body = "".join(
        [
            api.get(CARDS, page_size=500).content.decode(),
            api.get(order_cards(order.number), page_size=500).content.decode(),
        ]
    )
    assert_no_secret(body, list(Card.objects.filter(batch__order=order).order_by("serial")[:5]))
    assert "ciphertext" not in body
    assert "digest" not in body
    assert "key_id" not in body
