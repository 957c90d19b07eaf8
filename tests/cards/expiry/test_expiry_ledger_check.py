"""The nightly ledger check's card invariants: card liability + expired-balance liability equal
the balances owed on live and expired cards (less breakage); the voided-cards account holds the
balances voided and not yet refunded; each card's balance is its face value plus its
transactions, and its held amount its open holds. Each is broken on purpose here and alarms."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction

from billing.models import Account
from billing.services.ledger import account_get, journal_post
from billing.services.receivables import ledger_check_run
from cards.models import Card, CardStatus, CardTransaction
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.expiry import card_reactivate, cards_expire
from tests import factories

from .helpers import (
    DAY,
    EXPIRED_LIABILITY,
    VOIDED_CARDS,
    bearer_product,
    buyer,
    expiry_of,
    fresh,
    issued,
    line,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CARD_CHECKS = (
    "card_liability_matches_cards",
    "card_and_expired_liability_match_cards",
    "voided_cards_match_voids",
    "card_balances_match_transactions",
    "card_held_matches_open_holds",
)


def void(card: Card) -> None:
    """A void as the card service writes it: the balance goes to the voided-cards account."""
    with transaction.atomic():
        locked = card_lock(card.pk)
        amount = locked.balance
        card_transaction_write(
            card=locked,
            kind=CardTransaction.Kind.VOID,
            amount=-amount,
            status=CardStatus.VOIDED,
            reason="test",
        )
        journal_post(
            kind="card_void",
            idempotency_key=f"test-void:{card.pk}",
            postings=[
                (account_get(Account.Kind.CARD_LIABILITY), amount),
                (account_get(VOIDED_CARDS), -amount),
            ],
        )


@pytest.fixture
def books(settings) -> dict:
    """Four bearer cards of 100: two expired (one reactivated since), one voided and half
    refunded to the buyer, one active."""
    settings.ADMINS = [("Night ops", "night-ops@issuer.example")]
    who = buyer("Acme")
    cards = issued(who, [line(bearer_product(), "100", 4)])
    void(cards[2])
    journal_post(
        kind="voided_cards_refund",
        idempotency_key="test-refund",
        postings=[
            (account_get(VOIDED_CARDS), Decimal("50.00")),
            (account_get(Account.Kind.COMPANY_CREDIT, who.company), Decimal("-50.00")),
        ],
    )
    now = expiry_of(cards[0]) + DAY
    Card.objects.filter(pk=cards[3].pk).update(expires_at=now + 400 * DAY)
    cards_expire(now=now)
    card_reactivate(
        card_id=cards[1].pk, operator=factories.operator(), reason="Holder", now=now + DAY
    )
    return {"cards": [fresh(card) for card in cards]}


def test_clean_books_pass_every_card_check(books, mailoutbox) -> None:
    run = ledger_check_run()

    assert run.ok, run.results
    for name in CARD_CHECKS:
        assert run.results[name]["ok"] is True
    both = run.results["card_and_expired_liability_match_cards"]
    assert (both["live_balances"], both["expired_balances"]) == ("200.00", "100.00")
    assert (both["expected"], both["actual"]) == ("300.00", "300.00")
    voided = run.results["voided_cards_match_voids"]
    assert (voided["voided"], voided["refunded"], voided["actual"]) == ("100.00", "50.00", "50.00")
    assert mailoutbox == []


def test_an_expired_liability_without_expired_cards_behind_it_alarms(books, mailoutbox) -> None:
    journal_post(
        kind="card_expiry",
        idempotency_key="forced-drift",
        postings=[
            (account_get(Account.Kind.CASH), Decimal("40.00")),
            (account_get(EXPIRED_LIABILITY), Decimal("-40.00")),
        ],
    )

    run = ledger_check_run()

    result = run.results["card_and_expired_liability_match_cards"]
    assert result["ok"] is False
    assert (result["expected"], result["actual"]) == ("300.00", "340.00")
    assert run.results["card_liability_matches_cards"]["ok"] is True
    [mail] = mailoutbox
    assert "expired-balance liability" in mail.body


def test_a_void_without_its_ledger_entry_alarms(books) -> None:
    with transaction.atomic():
        locked = card_lock(books["cards"][3].pk)
        card_transaction_write(
            card=locked,
            kind=CardTransaction.Kind.VOID,
            amount=Decimal("-100.00"),
            status=CardStatus.VOIDED,
        )

    run = ledger_check_run()

    result = run.results["voided_cards_match_voids"]
    assert result["ok"] is False
    assert (result["voided"], result["credited"]) == ("200.00", "100.00")


def test_a_refund_of_more_than_was_voided_alarms(books) -> None:
    journal_post(
        kind="voided_cards_refund",
        idempotency_key="test-refund-too-much",
        postings=[
            (account_get(VOIDED_CARDS), Decimal("80.00")),
            (account_get(Account.Kind.CASH), Decimal("-80.00")),
        ],
    )
    result = ledger_check_run().results["voided_cards_match_voids"]
    assert result["ok"] is False
    assert result["actual"] == "-30.00"


def test_a_card_whose_balance_is_not_face_value_plus_transactions_alarms(books, mailoutbox) -> None:
    card = books["cards"][3]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cards_card SET balance = balance - 1 WHERE id = %s", [card.pk])

    run = ledger_check_run()

    result = run.results["card_balances_match_transactions"]
    assert result["ok"] is False
    assert result["cards"] == [card.serial_display]
    assert (result["expected"], result["actual"], result["card_count"]) == ("100.00", "99.00", 1)
    [mail] = mailoutbox
    assert f"1 card disagrees: {card.serial_display}" in mail.body


def test_a_held_amount_without_open_holds_alarms(books) -> None:
    card = books["cards"][3]
    Card.objects.filter(pk=card.pk).update(held=Decimal("10.00"))

    result = ledger_check_run().results["card_held_matches_open_holds"]

    assert result["ok"] is False
    assert result["cards"] == [card.serial_display]


def test_the_card_service_keeps_every_card_check_green(settings) -> None:
    """The card service's own acts (refund of unused cards to the buyer, void, exchange of an
    expired card), judged by the whole nightly check."""
    from cards.services.card_service import card_exchange, card_void, order_refund_unused_cards
    from tests.cards import card_service_data as data

    settings.ISSUANCE_CHUNK_SIZE = 40
    shop = data.shop()
    order = data.issue(shop, quantity=4)
    first, second, third, fourth = data.cards_of(order)
    data.redeem(first, data.merchant(), "10.00")
    order_refund_unused_cards(order=order, cards=[second], actor=shop.maker, reason="Too many")
    card_void(card=third, reason="Lost before delivery", actor=shop.maker)
    cards_expire(now=expiry_of(fourth) + DAY)
    card_exchange(card=fourth, reason="Holder asked", actor=shop.maker)

    run = ledger_check_run()

    assert run.ok, run.results
    voided = run.results["voided_cards_match_voids"]
    assert (voided["voided"], voided["refunded"]) == ("200.00", "100.00")
