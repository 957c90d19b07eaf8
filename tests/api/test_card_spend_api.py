"""Buyers see the spend through the API: /api/v1/cards gives each card's balance, status and last
activity and filters by cost center, employee ID and the day issued or last used;
/api/v1/cards/{serial}/transactions lists a card's movements newest first behind a cursor, for
the key's company only (another company's serial is a 404)."""

# Cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.dateparse import parse_datetime

from cards.models import Card, Order
from portal.models import ApiKey, Role
from tests.api.helpers import Api, key_for
from tests.billing.statement_data import shanghai
from tests.cards import spend_data as spend
from tests.cards.test_cards_pages import Buyer, assert_no_secret, buyer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CARDS = "/api/v1/cards"
TRANSACTION_FIELDS = {
    "kind",
    "kind_label",
    "amount",
    "balance_after",
    "merchant",
    "merchant_reference",
    "created_at",
}


def transactions(card: Card) -> str:
    return f"/api/v1/cards/{card.serial_display}/transactions"


def api_of(who: Buyer, role: str = Role.VIEWER, scopes: list[str] | None = None) -> Api:
    return Api(key_for(who.company, who.people[role], scopes or [ApiKey.Scope.ORDERS_READ]))


def serials(response: Any) -> list[str]:
    assert response.status_code == HTTPStatus.OK, response.json()
    return [card["serial"] for card in response.json()["results"]]


@pytest.fixture
def acme(settings: Any) -> Buyer:
    settings.ISSUANCE_CHUNK_SIZE = 40
    return buyer()


@pytest.fixture
def order(acme: Buyer) -> Order:
    return spend.issued(
        acme,
        {
            "face_value": "500",
            "quantity": 3,
            "recipient_name": "王芳",
            "employee_id": "E-1001",
            "cost_center": "研发部",
        },
        {"face_value": "200", "quantity": 2, "cost_center": "Sales"},
    )


@pytest.fixture
def used(order: Order) -> dict[str, Any]:
    first = spend.cards_of(order)[0]
    shop = spend.merchant("Fresh Market Pudong")
    lunch = spend.redeem(first, "120.50", shop, reference="POS-778", at=shanghai(2026, 3, 2, 12, 5))
    spend.redeem(first, "80.00", shop, reference="POS-779", at=shanghai(2026, 3, 3, 18, 30))
    spend.refund(lunch, "20.50", at=shanghai(2026, 3, 4, 9, 15))
    first.refresh_from_db()
    return {"card": first, "shop": shop}


def test_a_card_comes_with_its_balance_status_last_activity_and_line_fields(
    acme: Buyer, used: dict[str, Any]
) -> None:
    card = used["card"]

    body = api_of(acme).get(CARDS, serial=card.serial_display).json()

    (only,) = body["results"]
    assert only["balance"] == "320.00"
    assert only["status"] == "active"
    assert parse_datetime(only["last_activity_at"]) == shanghai(2026, 3, 4, 9, 15)
    assert (only["employee_id"], only["cost_center"]) == ("E-1001", "研发部")
    never_used = api_of(acme).get(CARDS, cost_center="sales").json()["results"]
    assert [c["last_activity_at"] for c in never_used] == [None, None]


def test_cards_filter_by_cost_center_employee_and_days_issued_or_last_used(
    acme: Buyer, order: Order, used: dict[str, Any]
) -> None:
    cards = [c.serial_display for c in spend.cards_of(order)]
    Card.objects.filter(serial=int(cards[4])).update(created_at=shanghai(2025, 12, 31, 23, 59))
    api = api_of(acme)

    assert serials(api.get(CARDS, cost_center="研发部")) == cards[:3]
    assert serials(api.get(CARDS, employee_id="e-1001", cost_center="SALES")) == []
    assert serials(api.get(CARDS, employee_id="E-1001", status="active")) == cards[:3]
    assert serials(api.get(CARDS, issued_before="2025-12-31")) == [cards[4]]
    assert serials(api.get(CARDS, issued_after="2026-01-01")) == cards[:4]
    assert serials(api.get(CARDS, last_activity_after="2026-03-04")) == [cards[0]]
    assert serials(api.get(CARDS, last_activity_before="2026-03-03")) == []
    # A time (not a date) bounds to the instant: 09:15 Shanghai is 01:15 UTC.
    assert serials(api.get(CARDS, last_activity_before="2026-03-04T01:15:00Z")) == []
    assert serials(api.get(CARDS, last_activity_before="2026-03-04T01:15:01Z")) == [cards[0]]


def test_the_orders_card_list_takes_the_same_filters(acme: Buyer, order: Order) -> None:
    cards = [c.serial_display for c in spend.cards_of(order)]

    response = api_of(acme).get(f"/api/v1/orders/{order.number}/cards", cost_center="Sales")

    assert serials(response) == cards[3:]


def test_a_bad_date_filter_is_refused_naming_the_parameter(acme: Buyer, order: Order) -> None:
    response = api_of(acme).get(CARDS, last_activity_after="last tuesday")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "last_activity_after" in response.json()["errors"]
    assert "is not a date" in response.json()["detail"]


def test_a_cards_transactions_come_newest_first_with_merchant_and_balance_after(
    acme: Buyer, used: dict[str, Any]
) -> None:
    response = api_of(acme).get(transactions(used["card"]))

    assert response.status_code == HTTPStatus.OK, response.json()
    body = response.json()
    assert "count" not in body
    refund, dinner, lunch = body["results"]
    assert set(lunch) == TRANSACTION_FIELDS
    assert (refund["kind"], refund["amount"], refund["balance_after"]) == (
        "refund",
        "20.50",
        "320.00",
    )
    assert parse_datetime(refund["created_at"]) == shanghai(2026, 3, 4, 9, 15)
    assert (dinner["kind"], dinner["amount"], dinner["merchant_reference"]) == (
        "redeem",
        "-80.00",
        "POS-779",
    )
    assert (lunch["merchant"], lunch["kind_label"], lunch["balance_after"]) == (
        "Fresh Market Pudong",
        "Redemption",
        "379.50",
    )


def test_transactions_page_with_a_cursor(acme: Buyer, used: dict[str, Any]) -> None:
    api = api_of(acme)

    first = api.get(transactions(used["card"]), page_size=2).json()
    second = api.client.get(first["next"]).json()

    assert [t["kind"] for t in first["results"]] == ["refund", "redeem"]
    assert [t["amount"] for t in second["results"]] == ["-120.50"]
    assert second["next"] is None
    assert "cursor=" in first["next"]


def test_a_card_never_used_has_no_transactions(acme: Buyer, order: Order) -> None:
    body = api_of(acme).get(transactions(spend.cards_of(order)[1])).json()

    assert body["results"] == []
    assert body["next"] is None


def test_another_companys_serial_is_not_found(acme: Buyer, used: dict[str, Any]) -> None:
    stranger = api_of(buyer())

    response = stranger.get(transactions(used["card"]))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "not_found"
    assert "Fresh Market" not in response.text
    assert serials(stranger.get(CARDS, cost_center="研发部")) == []


@pytest.mark.parametrize("serial", ["0000000000000000", "12345", "8600ABCD00000015"])
def test_an_unknown_or_malformed_serial_is_not_found(acme: Buyer, serial: str) -> None:
    response = api_of(acme).get(f"/api/v1/cards/{serial}/transactions")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "not_found"


def test_transactions_need_the_orders_read_scope(acme: Buyer, used: dict[str, Any]) -> None:
    api = api_of(acme, Role.OWNER, scopes=[ApiKey.Scope.INVOICES_READ])

    response = api.get(transactions(used["card"]))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "orders:read" in response.json()["detail"]
    assert Api(None).get(transactions(used["card"])).status_code == HTTPStatus.UNAUTHORIZED


def test_transactions_read_no_secret_and_count_nothing(acme: Buyer, used: dict[str, Any]) -> None:
    api = api_of(acme, Role.FINANCE)

    with CaptureQueriesContext(connection) as queries:
        body = api.get(transactions(used["card"])).text

    assert_no_secret(body, [used["card"]])
    card_queries = [q["sql"] for q in queries.captured_queries if '"cards_card' in q["sql"]]
    assert card_queries
    for sql in card_queries:
        assert "COUNT(" not in sql.upper()
        assert '"ciphertext"' not in sql
        assert '"digest"' not in sql


def test_a_page_of_cards_costs_the_same_queries_for_one_card_as_for_five(
    acme: Buyer, order: Order
) -> None:
    api = api_of(acme)
    api.get(CARDS, page_size=1)  # the key's first use is recorded once

    with CaptureQueriesContext(connection) as one:
        assert len(serials(api.get(CARDS, page_size=1))) == 1
    with CaptureQueriesContext(connection) as five:
        assert len(serials(api.get(CARDS, page_size=5))) == 5

    assert len(five.captured_queries) == len(one.captured_queries)
