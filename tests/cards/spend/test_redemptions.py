"""Redemptions, refunds and voids: what each writes (the card, its transaction, the ledger, the
audit trail), the refusals, and the Idempotency-Key that makes a retry safe."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from decimal import Decimal
from http import HTTPStatus
from unittest import mock

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.models import Account, JournalEntry
from billing.services.ledger import account_balance, account_get
from cards.audit import SpendAction
from cards.models import Card, CardStatus, CardTransaction
from cards.services.spend import redemption_create
from portal import days
from portal.errors import DomainError
from portal.models import AuditEvent
from tests.cards.spend.helpers import (
    REDEMPTIONS,
    REFUNDS,
    IssuedCard,
    MerchantApi,
    assert_books_agree,
    issued_card,
    liability,
    merchant,
    merchant_key,
    new_key,
    payable,
    void_path,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def card() -> IssuedCard:
    return issued_card("1000")


@pytest.fixture
def shop_api():
    shop = merchant()
    _key, plaintext = merchant_key(shop)
    return shop, MerchantApi(plaintext)


def refund(api: MerchantApi, redemption: str, amount: str, key: str | None = None):
    return api.post(
        REFUNDS, {"redemption": redemption, "amount": amount}, idempotency_key=key or new_key()
    )


# --- Redeem ---------------------------------------------------------------------------------------


def test_a_redemption_spends_part_of_the_card_and_owes_it_to_the_merchant(card, shop_api) -> None:
    shop, api = shop_api
    before = liability()
    response = api.redeem(card.code.lower(), "99.90", ref="POS-7-0001")

    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    tx = CardTransaction.objects.get(public_id=body["id"])
    assert body == {
        "id": str(tx.public_id),
        "kind": "redeem",
        "serial": card.card.serial_display,
        "amount": "99.90",
        "currency": "CNY",
        "balance_after": "900.10",
        "merchant_reference": "POS-7-0001",
        "redemption": None,
        "hold": None,
        "created_at": timezone.localtime(tx.created_at).isoformat(),
    }
    assert (tx.amount, tx.balance_after) == (Decimal("-99.90"), Decimal("900.10"))
    assert tx.merchant == shop
    assert tx.idempotency_key.startswith(f"m{shop.pk}:")
    assert card.refresh().balance == Decimal("900.10")
    assert card.card.last_activity_at == tx.created_at
    assert liability() == before - Decimal("99.90")
    assert payable(shop) == Decimal("99.90")
    entry = JournalEntry.objects.get(idempotency_key=f"card-tx:{tx.public_id}")
    assert entry.kind == "card_redeem"
    event = AuditEvent.objects.get(action=SpendAction.CARD_REDEEMED)
    assert event.object_id == str(tx.public_id)
    assert event.changes["merchant_reference"] == "POS-7-0001"
    assert card.code not in str(event.changes)
    assert_books_agree()


def test_the_whole_balance_can_be_spent_and_not_a_cent_more(card, shop_api) -> None:
    _shop, api = shop_api
    assert api.redeem(card.code, "1000.00").status_code == HTTPStatus.CREATED
    assert card.refresh().status == CardStatus.DEPLETED
    refused = api.redeem(card.code, "0.01")
    assert refused.status_code == HTTPStatus.CONFLICT
    assert refused.json()["code"] == "insufficient_balance"
    assert refused.json()["available"] == "0.00"
    assert_books_agree()


def test_more_than_available_is_refused_with_what_is_available(card, shop_api) -> None:
    _shop, api = shop_api
    Card.objects.filter(pk=card.card.pk).update(held=Decimal("300.00"))
    refused = api.redeem(card.code, "700.01")
    assert refused.status_code == HTTPStatus.CONFLICT
    body = refused.json()
    assert (body["code"], body["available"]) == ("insufficient_balance", "700.00")
    assert "¥700.00" in body["detail"]
    assert api.redeem(card.code, "700.00").status_code == HTTPStatus.CREATED
    assert card.refresh().balance == Decimal("300.00")
    assert not CardTransaction.objects.filter(amount=Decimal("-700.01")).exists()


@pytest.mark.parametrize(
    ("amount", "code"),
    [("0", "min_value"), ("-5", "min_value"), ("1.005", "max_decimal_places"), ("abc", "invalid")],
)
def test_an_amount_must_be_positive_cents(card, shop_api, amount: str, code: str) -> None:
    _shop, api = shop_api
    refused = api.redeem(card.code, amount)
    assert (refused.status_code, refused.json()["code"]) == (400, code)
    assert list(refused.json()["errors"]) == ["amount"]


def test_a_redemption_needs_an_idempotency_key_and_a_reference(card, shop_api) -> None:
    _shop, api = shop_api
    body = {"code": card.code, "amount": "10", "merchant_reference": "R"}
    missing = api.post(REDEMPTIONS, body)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_missing")
    no_reference = api.post(REDEMPTIONS, {**body, "merchant_reference": ""}, idempotency_key="k")
    assert (no_reference.status_code, no_reference.json()["code"]) == (400, "blank")
    assert not CardTransaction.objects.exists()


def test_the_same_key_replays_the_answer_and_another_request_with_it_is_refused(
    card, shop_api
) -> None:
    _shop, api = shop_api
    first = api.redeem(card.code, "100.00", key="order-42")
    # The same request typed differently (spaces, case) is the same request.
    again = api.redeem(card.code.lower().replace("-", " "), "100", key="order-42")
    assert again.status_code == first.status_code == HTTPStatus.CREATED
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first

    other = api.redeem(card.code, "200.00", key="order-42")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert CardTransaction.objects.count() == 1
    assert card.refresh().balance == Decimal("900.00")


def test_a_replay_answers_the_same_after_the_card_changed(card, shop_api) -> None:
    _shop, api = shop_api
    first = api.redeem(card.code, "1000.00", key="all-of-it")
    Card.objects.filter(pk=card.card.pk).update(status=CardStatus.FROZEN)
    again = api.redeem(card.code, "1000.00", key="all-of-it")
    assert (again.status_code, again.content) == (first.status_code, first.content)


def test_two_merchants_may_use_the_same_key(card, shop_api) -> None:
    _shop, api = shop_api
    _key, other = merchant_key(merchant("华联超市"))
    assert api.redeem(card.code, "10.00", key="1").status_code == HTTPStatus.CREATED
    assert MerchantApi(other).redeem(card.code, "10.00", key="1").status_code == 201
    assert card.refresh().balance == Decimal("980.00")


def test_a_frozen_card_fails_like_an_unknown_code(card, shop_api) -> None:
    _shop, api = shop_api
    Card.objects.filter(pk=card.card.pk).update(status=CardStatus.FROZEN)
    refused = api.redeem(card.code, "10.00")
    assert (refused.status_code, refused.json()["code"]) == (404, "card_unavailable")
    assert not CardTransaction.objects.exists()


# --- Refund ---------------------------------------------------------------------------------------


def test_refunds_give_back_at_most_what_was_redeemed(card, shop_api) -> None:
    shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    first = refund(api, redemption, "100.00")
    assert first.status_code == HTTPStatus.CREATED, first.json()
    body = first.json()
    assert (body["kind"], body["amount"], body["balance_after"], body["redemption"]) == (
        "refund",
        "100.00",
        "800.00",
        redemption,
    )
    too_much = refund(api, redemption, "200.01")
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_exceeds_redemption")
    assert "¥200.00" in too_much.json()["detail"]
    assert refund(api, redemption, "200.00").status_code == HTTPStatus.CREATED
    assert refund(api, redemption, "0.01").status_code == HTTPStatus.CONFLICT
    assert card.refresh().balance == Decimal("1000.00")
    assert payable(shop) == Decimal("0.00")
    assert AuditEvent.objects.filter(action=SpendAction.CARD_REFUNDED).count() == 2
    assert_books_agree()


def test_a_refund_brings_a_spent_card_back(card, shop_api) -> None:
    _shop, api = shop_api
    redemption = api.redeem(card.code, "1000.00").json()["id"]
    assert card.refresh().status == CardStatus.DEPLETED
    refund(api, redemption, "1.00")
    assert (card.refresh().status, card.card.balance) == (CardStatus.ACTIVE, Decimal("1.00"))


def test_a_refund_is_idempotent(card, shop_api) -> None:
    _shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    first = refund(api, redemption, "50.00", key="refund-1")
    again = refund(api, redemption, "50.00", key="refund-1")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    other = refund(api, redemption, "60.00", key="refund-1")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert CardTransaction.objects.filter(kind="refund").count() == 1


def test_no_refund_to_a_voided_card(card, shop_api) -> None:
    _shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    Card.objects.filter(pk=card.card.pk).update(status=CardStatus.VOIDED)
    refused = refund(api, redemption, "10.00")
    assert (refused.status_code, refused.json()["code"]) == (409, "card_voided")


def test_a_refund_to_an_expired_card_is_owed_as_an_expired_balance(card, shop_api) -> None:
    shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    Card.objects.filter(pk=card.card.pk).update(status=CardStatus.EXPIRED)
    expired_before = account_balance(account_get(Account.Kind.EXPIRED_LIABILITY))
    assert refund(api, redemption, "100.00").status_code == HTTPStatus.CREATED
    assert card.refresh().status == CardStatus.EXPIRED
    expired_after = account_balance(account_get(Account.Kind.EXPIRED_LIABILITY))
    assert expired_after - expired_before == Decimal("-100.00")
    assert payable(shop) == Decimal("200.00")


def test_only_the_merchant_that_redeemed_can_refund_or_void(card, shop_api) -> None:
    _shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    _key, other = merchant_key(merchant("华联超市"))
    stranger = MerchantApi(other)
    assert refund(stranger, redemption, "1.00").status_code == HTTPStatus.NOT_FOUND
    assert stranger.post(void_path(redemption), idempotency_key="v").status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    assert refund(api, unknown, "1.00").json()["code"] == "not_found"


# --- Void -----------------------------------------------------------------------------------------


def test_a_void_restores_what_is_left_of_the_redemption_once(card, shop_api) -> None:
    shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    refund(api, redemption, "100.00")
    voided = api.post(void_path(redemption), idempotency_key="void-1")
    assert voided.status_code == HTTPStatus.CREATED, voided.json()
    assert (voided.json()["kind"], voided.json()["amount"]) == ("redeem_void", "200.00")
    replay = api.post(void_path(redemption), idempotency_key="void-1")
    assert replay.content == voided.content
    twice = api.post(void_path(redemption), idempotency_key="void-2")
    assert (twice.status_code, twice.json()["code"]) == (409, "redemption_voided")
    assert refund(api, redemption, "0.01").json()["code"] == "refund_exceeds_redemption"
    assert card.refresh().balance == Decimal("1000.00")
    assert payable(shop) == Decimal("0.00")
    assert AuditEvent.objects.filter(action=SpendAction.REDEMPTION_VOIDED).count() == 1
    assert_books_agree()


def test_a_redemption_refunded_in_full_has_nothing_to_void(card, shop_api) -> None:
    _shop, api = shop_api
    redemption = api.redeem(card.code, "300.00").json()["id"]
    refund(api, redemption, "300.00")
    refused = api.post(void_path(redemption), idempotency_key="v")
    assert (refused.status_code, refused.json()["code"]) == (409, "redemption_refunded")


def test_a_void_is_allowed_until_the_end_of_the_redemptions_day_in_shanghai(
    card, shop_api, settings: Settings
) -> None:
    _shop, api = shop_api
    # The clock stands at noon in Shanghai, so that no run near midnight changes the answer.
    today = timezone.localdate()
    noon = days.day_start(today) + datetime.timedelta(hours=12)
    clock = mock.patch("django.utils.timezone.now", return_value=noon)
    # Redeemed at 23:59 in Shanghai yesterday: the window closed at midnight.
    late = days.day_start(today) - datetime.timedelta(minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=late):
        redemption = api.redeem(card.code, "300.00").json()["id"]
    assert CardTransaction.objects.get(public_id=redemption).created_at == late
    with clock:
        refused = api.post(void_path(redemption), idempotency_key="late")
        assert (refused.status_code, refused.json()["code"]) == (409, "void_window_closed")
        assert f"{today:%Y-%m-%d} 00:00" in refused.json()["detail"]

        same_day = api.redeem(card.code, "100.00").json()["id"]
        assert api.post(void_path(same_day), idempotency_key="today").status_code == 201

        settings.MERCHANT_VOID_WINDOW_MINUTES = 10
        assert api.post(void_path(redemption), idempotency_key="late").status_code == 409
        recent = api.redeem(card.code, "100.00").json()["id"]
        assert api.post(void_path(recent), idempotency_key="recent").status_code == 201


# --- In-process, as a benchmark calls it ---------------------------------------------------------


def test_the_services_run_without_http_and_one_amount_is_one_request(card) -> None:
    key, _plaintext = merchant_key()
    first = redemption_create(
        key=key, code=card.code, amount=Decimal("100"), merchant_reference="R", idempotency_key="k"
    )
    again = redemption_create(
        key=key,
        code=card.code.lower(),
        amount=Decimal("100.00"),
        merchant_reference="R",
        idempotency_key="k",
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert again.transaction.pk == first.transaction.pk
    with pytest.raises(DomainError) as refused:
        redemption_create(
            key=key,
            code=card.code,
            amount=Decimal("1.005"),
            merchant_reference="R",
            idempotency_key="k2",
        )
    assert refused.value.code == "decimals"
    assert card.refresh().balance == Decimal("900.00")
