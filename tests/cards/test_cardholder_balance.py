"""The cardholder's balance page behind a recipient's link (no account): balance, status, expiry
and the card's transactions, never the code, which stays shown once; after the code was shown
the link keeps opening the balance page; requests are limited per link and per client address
(429 with Retry-After)."""

# Deliveries and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from cards.models import CardStatus, CardTransaction, DeliveryStatus, Order, RecipientDelivery
from cards.services import recipients
from tests import factories
from tests.billing.statement_data import shanghai
from tests.cards import spend_data as spend
from tests.cards.test_recipients import (
    Shop,
    delivery_of,
    fulfilled,
    last_email_token,
    open_link,
    send_pending,
    shows_code,
    text_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

BALANCE = "/r/balance/"
XIAOMING = "xiaoming@example.com"


@pytest.fixture(autouse=True)
def isolated(settings: Any) -> None:
    """As the recipient tests: links to a fixed site, and a fresh cache for the counters (a
    local-memory cache of its own name: one of the same name keeps its entries between tests)."""
    settings.PORTAL_BASE_URL = "https://portal.example"
    settings.ISSUANCE_CHUNK_SIZE = 40
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": uuid.uuid4().hex,
        }
    }


@pytest.fixture
def shop() -> Shop:
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    return Shop(company=company, people=factories.team(company), product=factories.product())


@pytest.fixture
def delivered(shop: Shop, mailoutbox: list[Any]) -> Order:
    """The recipient tests' order of four cards, whose links went out (Xiaoming's card is
    ¥100)."""
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    assert send_pending(order) == ["sent"] * 4
    return order


def spent(order: Order) -> RecipientDelivery:
    """Xiaoming's ¥100 card, spent twice at one shop and refunded once."""
    delivery = delivery_of(order, email=XIAOMING)
    shop_ = spend.merchant("Fresh Market Pudong")
    coffee = spend.redeem(delivery.card, "30.00", shop_, at=shanghai(2026, 3, 2, 8, 45))
    spend.redeem(delivery.card, "12.50", shop_, at=shanghai(2026, 3, 3, 12, 0))
    spend.refund(coffee, "5.00", at=shanghai(2026, 3, 3, 18, 20))
    delivery.card.refresh_from_db()
    return delivery


def revealed(client: Client, mailoutbox: list[Any]) -> None:
    open_link(client, last_email_token(mailoutbox, XIAOMING))
    assert client.post("/r/").status_code == 200


def test_after_the_code_was_shown_the_link_shows_balance_and_transactions_not_the_code(
    delivered: Order, mailoutbox: list[Any]
) -> None:
    delivery = spent(delivered)
    client = Client()
    revealed(client, mailoutbox)

    card_page = client.get("/r/")
    page = client.get(BALANCE)

    assert 'href="/r/balance/"' in card_page.text
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    text = text_of(page)
    assert "Balance ¥62.50" in text
    assert "Status Active" in text
    assert f"Valid until {timezone.localtime(delivery.card.expires_at):%Y-%m-%d}" in text
    assert "From Acme Gifts Co., Ltd." in text
    rows = page.text.split('data-testid="transaction-row"')[1:]
    assert len(rows) == 3
    assert "2026-03-03 18:20" in rows[0]
    assert "Refund" in rows[0]
    assert "¥62.50" in rows[0]
    assert "-¥30.00" in rows[2]
    assert "Fresh Market Pudong" in rows[2]
    assert 'class="table stack"' in page.text
    assert not shows_code(page, delivery.card)
    assert f"···{delivery.card.last4}" in text


def test_the_balance_page_before_the_reveal_does_not_reveal(
    delivered: Order, mailoutbox: list[Any]
) -> None:
    delivery = delivery_of(delivered, email=XIAOMING)
    client = Client()
    open_link(client, last_email_token(mailoutbox, XIAOMING))

    page = client.get(BALANCE)

    assert page.status_code == 200
    assert "Balance ¥100.00" in text_of(page)
    assert "This card has not been used yet" in text_of(page)
    assert not shows_code(page, delivery.card)
    delivery.refresh_from_db()
    assert delivery.revealed_at is None
    # The code is still there to be shown, once.
    assert shows_code(client.post("/r/"), delivery.card)
    assert not shows_code(client.post("/r/"), delivery.card)


def test_the_balance_page_accepts_no_post(delivered: Order, mailoutbox: list[Any]) -> None:
    client = Client()
    open_link(client, last_email_token(mailoutbox, XIAOMING))

    assert client.post(BALANCE).status_code == 405


def test_a_revealed_link_past_its_time_still_opens_the_balance_page(
    delivered: Order, mailoutbox: list[Any], settings: Any
) -> None:
    spent(delivered)
    client = Client()
    revealed(client, mailoutbox)
    RecipientDelivery.objects.filter(email=XIAOMING).update(
        token_expires_at=timezone.now() - datetime.timedelta(days=1)
    )

    again = Client()
    first = again.get(f"/r/{last_email_token(mailoutbox, XIAOMING)}/")
    card_page = again.get(first["Location"])

    assert card_page.status_code == 302
    assert card_page["Location"] == BALANCE
    assert "Balance ¥62.50" in text_of(again.get(BALANCE))
    # Until RECIPIENT_BALANCE_DAYS after the reveal.
    RecipientDelivery.objects.filter(email=XIAOMING).update(
        revealed_at=timezone.now() - datetime.timedelta(days=settings.RECIPIENT_BALANCE_DAYS + 1)
    )
    late = again.get(BALANCE)
    assert late.status_code == 404
    assert "This link cannot be used" in text_of(late)


def test_an_expired_link_whose_code_was_never_shown_opens_nothing(
    delivered: Order, mailoutbox: list[Any]
) -> None:
    token = last_email_token(mailoutbox, XIAOMING)
    RecipientDelivery.objects.filter(email=XIAOMING).update(
        token_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    client = Client()

    assert open_link(client, token).status_code == 404
    client.get(f"/r/{token}/")
    assert client.get(BALANCE).status_code == 404


def test_a_replaced_link_opens_no_balance(
    delivered: Order, mailoutbox: list[Any], shop: Shop
) -> None:
    client = Client()
    open_link(client, last_email_token(mailoutbox, XIAOMING))
    assert client.get(BALANCE).status_code == 200

    recipients.delivery_resend(
        delivery=delivery_of(delivered, email=XIAOMING), actor=shop.people["owner"]
    )

    assert client.get(BALANCE).status_code == 404
    assert Client().get(BALANCE).status_code == 404  # no link in the session at all


def test_a_frozen_card_says_so_on_its_balance_page(delivered: Order, mailoutbox: list[Any]) -> None:
    delivery = spent(delivered)
    client = Client()
    revealed(client, mailoutbox)
    spend.move(delivery.card, CardTransaction.Kind.FREEZE, "0", status=CardStatus.FROZEN)

    text = text_of(client.get(BALANCE))

    assert "Status Frozen" in text
    assert "This card cannot be used at the moment (Frozen)" in text
    assert "Freeze" in text


def test_balance_checks_are_limited_per_link(
    delivered: Order, mailoutbox: list[Any], settings: Any
) -> None:
    settings.CARDHOLDER_BALANCE_PER_LINK = 3
    token = last_email_token(mailoutbox, XIAOMING)
    phone, laptop = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.2")
    phone.get(f"/r/{token}/")
    laptop.get(f"/r/{token}/")

    answers = [phone.get(BALANCE).status_code for _ in range(2)]
    answers.append(laptop.get(BALANCE).status_code)
    limited = laptop.get(BALANCE)

    assert answers == [200, 200, 200]
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= settings.CARDHOLDER_BALANCE_WINDOW_SECONDS
    assert "Too many balance checks came from this link or from your network" in text_of(limited)
    assert "no-store" in limited["Cache-Control"]
    # Another card's link is not affected.
    other = Client(REMOTE_ADDR="198.51.100.1")
    other.get(f"/r/{last_email_token(mailoutbox, 'lina@example.com')}/")
    assert other.get(BALANCE).status_code == 200


def test_balance_checks_are_limited_per_address(
    delivered: Order, mailoutbox: list[Any], settings: Any
) -> None:
    settings.CARDHOLDER_BALANCE_PER_IP = 2
    office = [Client(REMOTE_ADDR="203.0.113.5") for _ in range(3)]
    for client, email in zip(office, [XIAOMING, "lina@example.com", XIAOMING], strict=True):
        client.get(f"/r/{last_email_token(mailoutbox, email)}/")

    answers = [client.get(BALANCE).status_code for client in office]

    assert answers == [200, 200, 429]
    elsewhere = Client(REMOTE_ADDR="192.0.2.44")
    elsewhere.get(f"/r/{last_email_token(mailoutbox, XIAOMING)}/")
    assert elsewhere.get(BALANCE).status_code == 200


def test_the_limit_is_kept_in_redis(delivered: Order, mailoutbox: list[Any], settings: Any) -> None:
    """With the site's own cache (Redis in tests and production), not the test's local one."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"{settings.REDIS_KEY_PREFIX}{uuid.uuid4().hex}:",
        }
    }
    settings.CARDHOLDER_BALANCE_PER_LINK = 1
    client = Client()
    client.get(f"/r/{last_email_token(mailoutbox, XIAOMING)}/")

    assert [client.get(BALANCE).status_code for _ in range(2)] == [200, 429]


def test_the_throttled_page_is_in_chinese_for_a_chinese_reader(
    delivered: Order, mailoutbox: list[Any], settings: Any
) -> None:
    settings.CARDHOLDER_BALANCE_PER_LINK = 0
    client = Client(headers={"accept-language": "zh-hans"})
    client.get(f"/r/{last_email_token(mailoutbox, XIAOMING)}/")

    limited = client.get(BALANCE)

    assert limited.status_code == 429
    assert 'lang="zh-hans"' in limited.text


def test_opening_the_balance_page_changes_nothing(delivered: Order, mailoutbox: list[Any]) -> None:
    before = delivery_of(delivered, email=XIAOMING)
    client = Client()
    client.get(f"/r/{last_email_token(mailoutbox, XIAOMING)}/")

    client.get(BALANCE)

    after = delivery_of(delivered, email=XIAOMING)
    assert (after.status, after.opened_at, after.revealed_at) == (
        DeliveryStatus.SENT,
        before.opened_at,
        None,
    )
