"""Holds: they reserve part of a card's balance, are captured (all or part, the rest released)
or released, and end by themselves; a capture after the end is refused."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from cards import tasks
from cards.audit import SpendAction
from cards.models import Card, CardHold, CardStatus, CardTransaction, HoldStatus
from cards.services.card_movements import card_lock
from cards.services.spend import card_holds_release, holds_expire
from portal.models import AuditEvent
from tests.cards.spend.helpers import (
    BALANCE,
    HOLDS,
    IssuedCard,
    MerchantApi,
    assert_books_agree,
    capture_path,
    issued_card,
    merchant,
    merchant_key,
    new_key,
    payable,
    release_path,
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


def hold(api: MerchantApi, code: str, amount: str, key: str | None = None):
    return api.post(
        HOLDS,
        {"code": code, "amount": amount, "merchant_reference": "TABLE-7"},
        idempotency_key=key or new_key(),
    )


def available(api: MerchantApi, code: str) -> str:
    return str(api.post(BALANCE, {"code": code}).json()["balance"])


def test_a_hold_reserves_part_of_the_balance_for_a_while(
    card, shop_api, settings: Settings
) -> None:
    settings.MERCHANT_HOLD_MINUTES = 20
    _shop, api = shop_api
    response = hold(api, card.code, "600.00")
    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    held = CardHold.objects.get(public_id=body["id"])
    assert (body["status"], body["amount"], body["captured"]) == ("held", "600.00", "0.00")
    assert held.expires_at - held.created_at == datetime.timedelta(minutes=20)
    assert card.refresh().held == Decimal("600.00")
    assert card.card.balance == Decimal("1000.00")
    assert available(api, card.code) == "400.00"
    # Holds count against what can be redeemed or held.
    refused = api.redeem(card.code, "400.01")
    assert (refused.status_code, refused.json()["available"]) == (409, "400.00")
    assert hold(api, card.code, "400.01").json()["code"] == "insufficient_balance"
    assert AuditEvent.objects.filter(action=SpendAction.HOLD_CREATED).count() == 1


def test_a_partial_capture_redeems_that_and_releases_the_rest(card, shop_api) -> None:
    shop, api = shop_api
    hold_id = hold(api, card.code, "600.00").json()["id"]
    captured = api.post(capture_path(hold_id), {"amount": "450.00"}, idempotency_key="cap-1")
    assert captured.status_code == HTTPStatus.CREATED, captured.json()
    body = captured.json()
    assert (body["kind"], body["amount"], body["hold"], body["balance_after"]) == (
        "redeem",
        "450.00",
        hold_id,
        "550.00",
    )
    assert body["merchant_reference"] == "TABLE-7"
    assert (card.refresh().balance, card.card.held) == (Decimal("550.00"), Decimal("0.00"))
    held = CardHold.objects.get(public_id=hold_id)
    assert (held.status, held.captured, held.closed_at is not None) == ("captured", 450, True)
    assert payable(shop) == Decimal("450.00")
    assert_books_agree()

    replay = api.post(capture_path(hold_id), {"amount": "450.00"}, idempotency_key="cap-1")
    assert replay.content == captured.content
    again = api.post(capture_path(hold_id), idempotency_key="cap-2")
    assert (again.status_code, again.json()["code"]) == (409, "hold_state")
    assert CardTransaction.objects.filter(hold=held).count() == 1


def test_a_capture_without_an_amount_takes_it_all_and_never_more(card, shop_api) -> None:
    _shop, api = shop_api
    hold_id = hold(api, card.code, "250.00").json()["id"]
    too_much = api.post(capture_path(hold_id), {"amount": "250.01"}, idempotency_key="c1")
    assert (too_much.status_code, too_much.json()["code"]) == (400, "capture_exceeds_hold")
    everything = api.post(capture_path(hold_id), {}, idempotency_key="c2")
    assert everything.json()["amount"] == "250.00"
    assert card.refresh().balance == Decimal("750.00")


def test_a_released_hold_gives_the_amount_back(card, shop_api) -> None:
    _shop, api = shop_api
    hold_id = hold(api, card.code, "600.00").json()["id"]
    released = api.post(release_path(hold_id))
    assert released.status_code == HTTPStatus.OK
    assert released.json()["status"] == "released"
    assert card.refresh().held == Decimal("0.00")
    assert available(api, card.code) == "1000.00"
    # Releasing again answers the same; a released hold cannot be captured.
    assert api.post(release_path(hold_id)).json()["status"] == "released"
    refused = api.post(capture_path(hold_id), idempotency_key="late")
    assert (refused.status_code, refused.json()["code"]) == (409, "hold_state")
    assert AuditEvent.objects.filter(action=SpendAction.HOLD_RELEASED).count() == 1


def test_a_hold_replays_as_it_was_made(card, shop_api) -> None:
    _shop, api = shop_api
    first = hold(api, card.code, "100.00", key="h-1")
    api.post(release_path(first.json()["id"]))
    again = hold(api, card.code.lower(), "100.00", key="h-1")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Idempotent-Replayed"] == "true"
    other = hold(api, card.code, "100.01", key="h-1")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert CardHold.objects.count() == 1


def test_a_capture_after_the_end_is_refused_and_releases_the_hold(card, shop_api) -> None:
    _shop, api = shop_api
    hold_id = hold(api, card.code, "600.00").json()["id"]
    CardHold.objects.filter(public_id=hold_id).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    refused = api.post(capture_path(hold_id), idempotency_key="c")
    assert (refused.status_code, refused.json()["code"]) == (409, "hold_expired")
    assert CardHold.objects.get(public_id=hold_id).status == HoldStatus.EXPIRED
    assert card.refresh().held == Decimal("0.00")
    assert not CardTransaction.objects.exists()
    assert api.post(release_path(hold_id)).json()["status"] == "expired"


def test_the_sweep_ends_holds_past_their_end_once(card, shop_api) -> None:
    _shop, api = shop_api
    past = hold(api, card.code, "300.00").json()["id"]
    current = hold(api, card.code, "200.00").json()["id"]
    CardHold.objects.filter(public_id=past).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert tasks.merchant_holds_expire() == 1
    assert holds_expire() == 0
    assert CardHold.objects.get(public_id=past).status == HoldStatus.EXPIRED
    assert CardHold.objects.get(public_id=current).status == HoldStatus.HELD
    assert card.refresh().held == Decimal("200.00")
    assert AuditEvent.objects.filter(action=SpendAction.HOLD_EXPIRED).count() == 1


def test_another_merchants_hold_is_not_found(card, shop_api) -> None:
    _shop, api = shop_api
    hold_id = hold(api, card.code, "100.00").json()["id"]
    _key, other = merchant_key(merchant("华联超市"))
    stranger = MerchantApi(other)
    assert stranger.post(release_path(hold_id)).status_code == HTTPStatus.NOT_FOUND
    assert stranger.post(capture_path(hold_id), idempotency_key="x").status_code == 404
    assert card.refresh().held == Decimal("100.00")


def test_a_hold_on_a_card_frozen_since_cannot_be_captured(card, shop_api) -> None:
    _shop, api = shop_api
    hold_id = hold(api, card.code, "100.00").json()["id"]
    Card.objects.filter(pk=card.card.pk).update(status=CardStatus.FROZEN)
    refused = api.post(capture_path(hold_id), idempotency_key="c")
    assert (refused.status_code, refused.json()["code"]) == (409, "card_state")
    assert api.post(release_path(hold_id)).status_code == HTTPStatus.OK


def test_other_card_services_can_release_every_hold_of_a_card(card, shop_api) -> None:
    from django.db import transaction

    _shop, api = shop_api
    hold(api, card.code, "100.00")
    hold(api, card.code, "200.00")
    with transaction.atomic():
        locked = card_lock(card.card.pk)
        assert card_holds_release(card=locked) == 2
    assert card.refresh().held == Decimal("0.00")
    assert set(CardHold.objects.values_list("status", flat=True)) == {HoldStatus.RELEASED}


def test_celery_beat_runs_the_sweep(settings: Settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["merchant-holds-expire"]
    assert entry["task"] == tasks.merchant_holds_expire.name
    assert entry["schedule"] == settings.MERCHANT_HOLD_SWEEP_SECONDS
