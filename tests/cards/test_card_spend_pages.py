"""Buyers see the spend in the portal: the card list shows each card's balance, status and last
activity and filters by order, cost center, employee ID, status and the day issued or last used,
within the active company; a card's page (by serial, never by code) lists its transactions."""

# Cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from http import HTTPStatus
from typing import Any

import pytest
from django.utils import timezone

from cards.models import Card, CardStatus, CardTransaction, Order
from portal.models import Role
from tests.billing.statement_data import shanghai
from tests.cards import spend_data as spend
from tests.cards.test_cards_pages import Buyer, assert_no_secret, buyer, rows_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CARDS = "/cards/"


def card_url(card: Card) -> str:
    return f"/cards/{card.serial_display}/"


@pytest.fixture
def acme(settings: Any) -> Buyer:
    settings.ISSUANCE_CHUNK_SIZE = 40
    return buyer()


@pytest.fixture
def order(acme: Buyer) -> Order:
    """Three cards of ¥500 for 王芳 (employee E-1001, cost center 研发部) and two of ¥200 for
    nobody named (sales)."""
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
    """The first card spent twice and refunded once in March 2026 (Shanghai time)."""
    first = spend.cards_of(order)[0]
    shop = spend.merchant("Fresh Market Pudong")
    lunch = spend.redeem(first, "120.50", shop, reference="POS-778", at=shanghai(2026, 3, 2, 12, 5))
    spend.redeem(first, "80.00", shop, reference="POS-779", at=shanghai(2026, 3, 3, 18, 30))
    spend.refund(lunch, "20.50", at=shanghai(2026, 3, 4, 9, 15))
    first.refresh_from_db()
    return {"card": first, "shop": shop}


def test_the_list_shows_balance_status_and_last_activity(acme: Buyer, used: dict[str, Any]) -> None:
    card = used["card"]

    response = acme.client().get(CARDS)

    assert response.status_code == HTTPStatus.OK
    page = response.text
    assert card.balance == pytest.approx(320)
    row = page[page.index(f'href="{card_url(card)}"') :].split("</tr>")[0]
    assert "¥320.00" in row
    assert "Active" in row
    assert "2026-03-04 09:15" in row  # the refund's Shanghai time
    assert 'data-label="Last activity"' in row
    assert "None yet" in page  # the cards never used


def test_the_list_filters_by_cost_center_and_employee_id_ignoring_case(
    acme: Buyer, order: Order
) -> None:
    cards = spend.cards_of(order)
    client = acme.client()

    assert rows_of(client.get(CARDS, {"cost_center": "研发部"})) == [
        c.serial_display for c in cards[:3]
    ]
    assert rows_of(client.get(CARDS, {"cost_center": " sales "})) == [
        c.serial_display for c in cards[3:]
    ]
    assert rows_of(client.get(CARDS, {"employee_id": "e-1001"})) == [
        c.serial_display for c in cards[:3]
    ]
    assert rows_of(client.get(CARDS, {"employee_id": "E-10"})) == []  # whole values only
    both = client.get(CARDS, {"employee_id": "E-1001", "cost_center": "Sales"})
    assert rows_of(both) == []
    assert 'data-testid="empty-state"' in both.text
    assert "No card matches this search." in both.text


def test_the_list_filters_by_status_and_order_together(
    acme: Buyer, order: Order, used: dict[str, Any]
) -> None:
    other = spend.issued(acme, {"face_value": "100", "quantity": 2})
    frozen = spend.cards_of(other)[1]
    Card.objects.filter(pk=frozen.pk).update(status=CardStatus.FROZEN)
    client = acme.client()

    assert rows_of(client.get(CARDS, {"status": "frozen"})) == [frozen.serial_display]
    assert rows_of(client.get(CARDS, {"status": "frozen", "order": order.number})) == []
    assert rows_of(client.get(CARDS, {"order": other.number, "status": "active"})) == [
        spend.cards_of(other)[0].serial_display
    ]


def test_the_list_filters_by_the_day_last_used_in_shanghai_time(
    acme: Buyer, order: Order, used: dict[str, Any]
) -> None:
    second = spend.cards_of(order)[1]
    # 23:30 on 5 March in Shanghai is still 5 March there (15:30 UTC).
    spend.redeem(second, "10.00", used["shop"], at=shanghai(2026, 3, 5, 23, 30))
    client = acme.client()
    by_activity = {"date_of": "activity"}

    march_5 = client.get(CARDS, {**by_activity, "date_from": "2026-03-05", "date_to": "2026-03-05"})
    assert rows_of(march_5) == [second.serial_display]
    early_march = client.get(CARDS, {**by_activity, "date_to": "2026-03-04"})
    assert rows_of(early_march) == [used["card"].serial_display]
    assert rows_of(client.get(CARDS, {**by_activity, "date_from": "2026-03-06"})) == []


def test_the_list_filters_by_the_day_issued(acme: Buyer, order: Order) -> None:
    cards = spend.cards_of(order)
    Card.objects.filter(pk=cards[0].pk).update(created_at=shanghai(2025, 12, 31, 23, 59))
    today = timezone.localdate().isoformat()
    client = acme.client()

    assert rows_of(client.get(CARDS, {"date_of": "issued", "date_to": "2025-12-31"})) == [
        cards[0].serial_display
    ]
    assert rows_of(client.get(CARDS, {"date_from": today})) == [c.serial_display for c in cards[1:]]


def test_a_date_range_that_ends_before_it_starts_says_so(acme: Buyer, order: Order) -> None:
    response = acme.client().get(CARDS, {"date_from": "2026-03-05", "date_to": "2026-03-01"})

    assert rows_of(response) == []
    assert "The last day comes before the first" in response.text


def test_the_list_shows_only_the_active_companys_cards(acme: Buyer, order: Order) -> None:
    stranger = buyer()

    response = stranger.client().get(CARDS, {"cost_center": "研发部"})

    assert rows_of(response) == []
    assert rows_of(stranger.client().get(CARDS)) == []


def test_a_cards_page_lists_its_transactions_newest_first_in_shanghai_time(
    acme: Buyer, used: dict[str, Any]
) -> None:
    card = used["card"]

    response = acme.client(Role.VIEWER).get(card_url(card))

    assert response.status_code == HTTPStatus.OK
    page = response.text
    assert 'data-testid="card-balance">¥320.00<' in page
    assert "王芳" in page
    assert 'data-testid="card-employee">E-1001<' in page
    assert 'data-testid="card-cost-center">研发部<' in page
    rows = page.split('data-testid="transaction-row"')[1:]
    assert len(rows) == 3
    refund, dinner, lunch = rows
    assert "2026-03-04 09:15:00" in refund
    assert "Refund" in refund
    assert "¥20.50" in refund
    assert "¥320.00" in refund  # balance after
    assert "2026-03-03 18:30:00" in dinner
    assert "-¥80.00" in dinner
    assert "POS-779" in dinner
    assert "Redemption" in lunch
    assert "-¥120.50" in lunch
    assert "¥379.50" in lunch
    assert "Fresh Market Pudong" in lunch
    assert 'class="table stack"' in page
    assert 'data-label="Balance after"' in page


def test_a_card_never_used_shows_an_empty_state(acme: Buyer, order: Order) -> None:
    card = spend.cards_of(order)[4]

    page = acme.client().get(card_url(card)).text

    assert 'data-testid="empty-state"' in page
    assert "This card has not been used yet" in page
    assert 'data-testid="card-balance">¥200.00<' in page


def test_another_companys_card_is_not_found(acme: Buyer, used: dict[str, Any]) -> None:
    stranger = buyer()

    response = stranger.client().get(card_url(used["card"]))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Fresh Market" not in response.text


@pytest.mark.parametrize("serial", ["123", "abcdabcdabcdabcd", "00000000000000001"])
def test_a_malformed_or_unknown_serial_is_not_found(acme: Buyer, serial: str) -> None:
    assert acme.client().get(f"/cards/{serial}/").status_code == HTTPStatus.NOT_FOUND


def test_the_card_page_is_read_only_and_shows_no_secret(acme: Buyer, used: dict[str, Any]) -> None:
    card = used["card"]
    client = acme.client(Role.FINANCE)

    page = client.get(card_url(card)).text

    assert_no_secret(page, [card])
    assert "<form" not in page.split("<main", 1)[-1].split("</main>")[0]
    assert client.post(card_url(card)).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert CardTransaction.objects.filter(card=card).count() == 3


def test_the_transactions_page_by_page(acme: Buyer, order: Order, settings: Any) -> None:
    card = spend.cards_of(order)[2]
    shop = spend.merchant()
    start = shanghai(2026, 1, 1, 10)
    for day in range(52):
        spend.redeem(card, "1.00", shop, at=start + datetime.timedelta(days=day))
    client = acme.client()

    first = client.get(card_url(card))
    second = client.get(card_url(card), {"page": 2})

    assert first.text.count('data-testid="transaction-row"') == 50
    assert "2026-02-21 10:00:00" in first.text  # the newest
    assert second.text.count('data-testid="transaction-row"') == 2
    assert "2026-01-01 10:00:00" in second.text
    assert "Page 2 of 2" in second.text
