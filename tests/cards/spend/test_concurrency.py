"""Card spend under real concurrency on PostgreSQL: threads with their own connections start
together and contend for one card; the card's lock and the unique Idempotency-Key index decide,
and the books are checked after each race."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.db.models import Sum
from django.utils import translation

from cards.models import CardStatus, CardTransaction
from tests.cards.spend.helpers import (
    REFUNDS,
    MerchantApi,
    assert_books_agree,
    issued_card,
    merchant,
    merchant_key,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


def _connection_slots(wanted: int) -> int:
    """As many simultaneous connections as the server can spare, leaving room for other users
    of the same server (max_connections is often exactly 100)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity)"
        )
        free = int(cursor.fetchone()[0])
    return max(10, min(wanted, free - 20))


def race(works: list[Callable[[], Any]]) -> list[Any]:
    """Run each callable on its own thread and connection, all released at once; returns each
    result (or the exception it raised). A thread that finds the server out of connections
    tries again."""
    barrier = threading.Barrier(len(works))
    slots = threading.BoundedSemaphore(_connection_slots(len(works)))
    results: list[Any] = [None] * len(works)

    def run(index: int) -> None:
        with translation.override("en"):
            barrier.wait(timeout=60)
            with slots:
                for attempt in range(20):
                    try:
                        results[index] = works[index]()
                        return
                    except OperationalError as exc:
                        results[index] = exc
                        time.sleep(0.05 * (attempt + 1))
                    except Exception as exc:
                        results[index] = exc
                        return
                    finally:
                        connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return results


def answer(response: Any) -> tuple[int, dict[str, Any], str | None]:
    return response.status_code, response.json(), response.get("Idempotent-Replayed")


def test_fifty_redemptions_of_100_on_a_card_of_1000_leave_exactly_zero() -> None:
    card = issued_card("1000")
    _key, plaintext = merchant_key()

    def redeem(i: int) -> tuple[int, dict[str, Any], str | None]:
        return answer(MerchantApi(plaintext).redeem(card.code, "100.00", key=f"r-{i}"))

    results = race([functools.partial(redeem, i) for i in range(50)])
    assert not [r for r in results if not isinstance(r, tuple)], results[:3]
    statuses = Counter(status for status, _body, _replayed in results)
    assert statuses == {201: 10, 409: 40}
    refused = {body["code"] for status, body, _replayed in results if status == 409}
    assert refused == {"insufficient_balance"}
    card.refresh()
    assert (card.card.balance, card.card.status) == (Decimal("0.00"), CardStatus.DEPLETED)
    assert CardTransaction.objects.filter(kind="redeem").count() == 10
    assert_books_agree()


def test_refunds_racing_redemptions_never_exceed_what_was_redeemed() -> None:
    card = issued_card("1000")
    shop = merchant()
    _key, plaintext = merchant_key(shop)
    api = MerchantApi(plaintext)
    redemption = api.redeem(card.code, "600.00", key="first").json()["id"]

    def refund(key: str) -> tuple[int, dict[str, Any], str | None]:
        body = {"redemption": redemption, "amount": "250.00"}
        return answer(MerchantApi(plaintext).post(REFUNDS, body, idempotency_key=key))

    works: list[Callable[[], Any]] = [
        lambda: refund("refund-a"),
        lambda: refund("refund-a"),  # the same refund sent twice
        lambda: refund("refund-b"),
        lambda: refund("refund-c"),
        *(
            lambda i=i: answer(MerchantApi(plaintext).redeem(card.code, "200.00", key=f"more-{i}"))
            for i in range(4)
        ),
    ]
    results = race(works)
    assert not [r for r in results if not isinstance(r, tuple)], results[:3]

    refunds = CardTransaction.objects.filter(kind="refund")
    refunded = refunds.aggregate(s=Sum("amount"))["s"] or Decimal("0")
    assert refunded <= Decimal("600.00")
    assert refunds.count() == 2  # 3 x 250 asked of 600: two fit
    assert len(set(refunds.values_list("idempotency_key", flat=True))) == 2
    first, second = results[0], results[1]
    if first[0] == 201 or second[0] == 201:
        # the same key twice: one refund, answered twice
        assert first[0] == second[0] == 201
        assert first[1]["id"] == second[1]["id"]
        assert {first[2], second[2]} == {None, "true"}
    for status, body, _replayed in results[2:4]:
        assert status in (201, 409), body
    for status, body, _replayed in results[4:]:
        assert status == 201 or body["code"] == "insufficient_balance", body
    assert_books_agree()


def test_a_hundred_replays_of_one_redemption_make_one_transaction() -> None:
    card = issued_card("1000")
    _key, plaintext = merchant_key()
    results = race(
        [lambda: answer(MerchantApi(plaintext).redeem(card.code, "10.00", key="storm"))] * 100
    )
    assert not [r for r in results if not isinstance(r, tuple)], results[:3]
    assert CardTransaction.objects.count() == 1
    tx = CardTransaction.objects.get()
    assert {status for status, _body, _replayed in results} == {201}
    assert {body["id"] for _status, body, _replayed in results} == {str(tx.public_id)}
    replayed = [flag for _status, _body, flag in results]
    assert replayed.count(None) == 1
    assert replayed.count("true") == 99
    assert card.refresh().balance == Decimal("990.00")
    assert_books_agree()
