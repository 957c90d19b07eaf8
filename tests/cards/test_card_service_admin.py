"""Card service in the operators' admin: each act from a card's page with a reason, the second
operator's queue (approve, reject, never one's own), refunds of unused cards from the order's
page, and merchant settlements (file, payout). No code, digest or ciphertext on any page."""

# Objects looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr, arg-type"

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client

from billing.models import Invoice
from cards.models import (
    Card,
    CardServiceRequest,
    CardStatus,
    CardTransaction,
    MerchantSettlement,
)
from cards.services.settlement import merchant_settlement_compute
from portal import days
from portal.models import User
from tests.cards import card_service_data as data
from tests.cards.test_card_service import expire
from tests.cards.test_cards_pages import assert_no_secret
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CARDS = "/ops/cards/card/"
REQUESTS = "/ops/cards/cardservicerequest/"
ORDERS = "/ops/cards/order/"
SETTLEMENTS = "/ops/cards/merchantsettlement/"
EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def rules(settings: Any) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40
    settings.CARD_SERVICE_SECOND_OPERATOR_ABOVE = Decimal("1000.00")


@pytest.fixture
def shop() -> data.Shop:
    shop = data.shop()
    for operator in (shop.maker, shop.checker):
        operator.is_superuser = True
        operator.save()
    return shop


def client_for(user: User) -> Client:
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


@pytest.fixture
def maker(shop) -> Client:
    return client_for(shop.maker)


@pytest.fixture
def checker(shop) -> Client:
    return client_for(shop.checker)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def act(client: Client, card: Card, action: str, reason: str = "Holder called") -> Any:
    return client.post(
        f"{CARDS}{card.pk}/service/{action}/", {"reason": reason}, follow=True, headers=EN
    )


def status_of(card: Card) -> str:
    return Card.objects.get(pk=card.pk).status


# --- The card's page -----------------------------------------------------------------------------


def test_an_operator_finds_a_card_by_serial_and_sees_its_history_and_acts(shop, maker) -> None:
    cards = data.cards_of(data.issue(shop, registered=True, face_value="500"))
    card = cards[0]
    data.redeem(card, data.merchant(), "25.00", reference="SO-778")
    found = maker.get(CARDS, {"q": card.serial_display}, headers=EN)
    assert [c.pk for c in found.context["cl"].result_list] == [card.pk]
    page = maker.get(f"{CARDS}{card.pk}/change/", headers=EN).content.decode()
    assert "SO-778" in page
    for label in ("Freeze", "Void", "Report lost and reissue"):
        assert label in page
    assert f"{CARDS}{card.pk}/service/unfreeze/" not in page
    assert_no_secret(page, cards)


def test_freeze_and_unfreeze_from_the_card_page(shop, maker) -> None:
    card = data.cards_of(data.issue(shop))[0]
    frozen = act(maker, card, "freeze", "Phone stolen")
    assert f"Card {card.serial_display} is now Frozen." in messages_of(frozen)
    assert status_of(card) == CardStatus.FROZEN
    act(maker, card, "unfreeze", "Phone found")
    assert status_of(card) == CardStatus.ACTIVE
    assert list(
        CardTransaction.objects.filter(card=card).order_by("id").values_list("kind", "reason")
    ) == [("freeze", "Phone stolen"), ("unfreeze", "Phone found")]


def test_an_act_without_a_reason_is_not_done(shop, maker) -> None:
    card = data.cards_of(data.issue(shop))[0]
    response = maker.post(f"{CARDS}{card.pk}/service/void/", {"reason": ""}, headers=EN)
    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors["reason"]
    assert status_of(card) == CardStatus.ACTIVE


def test_void_from_the_card_page(shop, maker) -> None:
    card = data.cards_of(data.issue(shop))[0]
    assert act(maker, card, "void", "Fraud").status_code == HTTPStatus.OK
    assert status_of(card) == CardStatus.VOIDED
    again = maker.post(f"{CARDS}{card.pk}/service/freeze/", {"reason": "x"}, headers=EN)
    assert "a voided card never comes back" in again.content.decode()


def test_reissue_from_the_card_page(shop, maker) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="500"))[0]
    response = act(maker, card, "reissue", "Lost wallet")
    new = Card.objects.get(reissued_from=card)
    assert (
        f"Card {card.serial_display} is voided; its balance is on the new card "
        f"{new.serial_display}." in messages_of(response)
    )


def test_exchange_from_the_card_page(shop, maker) -> None:
    card = expire(data.cards_of(data.issue(shop))[0])
    page = maker.get(f"{CARDS}{card.pk}/change/", headers=EN).content.decode()
    assert f"{CARDS}{card.pk}/service/exchange/" in page
    act(maker, card, "exchange", "Holder at the counter")
    assert Card.objects.get(reissued_from=card).balance == Decimal("100.00")


def test_an_operator_without_the_permission_cannot_act(shop) -> None:
    card = data.cards_of(data.issue(shop))[0]
    viewer = User.objects.create_user("viewer@issuer.example", "Correct-Horse-42", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_card"))
    client = client_for(viewer)
    assert "service/freeze" not in client.get(f"{CARDS}{card.pk}/change/").content.decode()
    refused = client.post(f"{CARDS}{card.pk}/service/freeze/", {"reason": "x"})
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert status_of(card) == CardStatus.ACTIVE


# --- A second operator ---------------------------------------------------------------------------


def test_a_large_void_waits_and_a_second_operator_approves_it(shop, maker, checker) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="2000"))[0]
    sent = act(maker, card, "void", "Company closed")
    assert "sent to a second operator" in " ".join(messages_of(sent))
    assert status_of(card) == CardStatus.ACTIVE
    request = CardServiceRequest.objects.get(card=card)
    assert (
        "waits for a second operator"
        in maker.get(f"{CARDS}{card.pk}/change/", headers=EN).content.decode()
    )
    # The requester's approval is refused
    own = maker.post(f"{REQUESTS}{request.pk}/approve/", follow=True, headers=EN)
    assert "Another operator must approve a request you made." in " ".join(messages_of(own))
    assert status_of(card) == CardStatus.ACTIVE
    # Another operator sees the request and approves it
    page = checker.get(f"{REQUESTS}{request.pk}/change/", headers=EN).content.decode()
    assert f"{REQUESTS}{request.pk}/approve/" in page
    assert checker.get(f"{REQUESTS}{request.pk}/approve/", headers=EN).status_code == 200
    done = checker.post(f"{REQUESTS}{request.pk}/approve/", follow=True, headers=EN)
    assert f"Approved: card {card.serial_display} is now Voided." in messages_of(done)
    assert status_of(card) == CardStatus.VOIDED


def test_a_second_operator_rejects_a_request_with_a_reason(shop, maker, checker) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="2000"))[0]
    act(maker, card, "reissue", "Lost")
    request = CardServiceRequest.objects.get(card=card)
    missing = checker.post(f"{REQUESTS}{request.pk}/reject/", {"reason": ""}, headers=EN)
    assert missing.context["form"].errors["reason"]
    checker.post(f"{REQUESTS}{request.pk}/reject/", {"reason": "No ID shown"}, headers=EN)
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (
        CardServiceRequest.Status.REJECTED,
        shop.checker,
    )
    assert status_of(card) == CardStatus.ACTIVE


def test_the_queue_approves_several_requests_at_once(shop, maker, checker) -> None:
    cards = data.cards_of(data.issue(shop, registered=True, face_value="2000", quantity=2))
    for card in cards:
        act(maker, card, "void", "Company closed")
    queue = checker.get(REQUESTS, {"status__exact": "pending"}, headers=EN)
    assert len(queue.context["cl"].result_list) == 2
    checker.post(
        REQUESTS,
        {
            "action": "approve_selected",
            ACTION_CHECKBOX_NAME: [r.pk for r in CardServiceRequest.objects.all()],
        },
        headers=EN,
    )
    assert [status_of(card) for card in cards] == [CardStatus.VOIDED] * 2


# --- Refund to the buyer -------------------------------------------------------------------------


def test_unused_cards_are_refunded_from_the_order_page(shop, maker) -> None:
    order = data.issue(shop, quantity=3)
    cards = data.cards_of(order)
    data.redeem(cards[0], data.merchant(), "1.00")
    page = maker.get(f"{ORDERS}{order.pk}/change/", headers=EN).content.decode()
    assert f"{ORDERS}{order.pk}/refund-unused/" in page
    form = maker.get(f"{ORDERS}{order.pk}/refund-unused/", headers=EN)
    assert form.context["unused"] == 2
    response = maker.post(
        f"{ORDERS}{order.pk}/refund-unused/",
        {"serials": cards[2].serial_display, "reason": "Employee left"},
        follow=True,
        headers=EN,
    )
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert f"credit note {note.number} for ¥100.00" in " ".join(messages_of(response))
    assert status_of(cards[2]) == CardStatus.VOIDED
    # A used card named by serial refuses the refund
    refused = maker.post(
        f"{ORDERS}{order.pk}/refund-unused/",
        {"serials": cards[0].serial_display, "reason": "r"},
        headers=EN,
    )
    assert "has been used" in refused.content.decode()
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1


# --- Merchant settlements ------------------------------------------------------------------------


def test_a_settlement_file_is_downloaded_and_its_payout_recorded_once(shop, maker) -> None:
    card = data.cards_of(data.issue(shop))[0]
    mart = data.merchant()
    yesterday = days.today() - datetime.timedelta(days=1)
    data.redeem(card, mart, "60.00", reference="SO-9", at=days.day_start(yesterday))
    settlement = merchant_settlement_compute(merchant=mart, day=yesterday)
    page = maker.get(f"{SETTLEMENTS}{settlement.pk}/change/", headers=EN).content.decode()
    assert f"{SETTLEMENTS}{settlement.pk}/payout/" in page
    response = maker.get(f"{SETTLEMENTS}{settlement.pk}/file.csv", headers=EN)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1][4] == "SO-9"
    assert card.serial_display not in response.content.decode("utf-8-sig")
    xlsx = maker.get(f"{SETTLEMENTS}{settlement.pk}/file.xlsx")
    assert xlsx.content[:2] == b"PK"
    maker.post(f"{SETTLEMENTS}{settlement.pk}/payout/", {"bank_reference": "CMB-1"}, headers=EN)
    settlement.refresh_from_db()
    assert (settlement.status, settlement.bank_reference) == (
        MerchantSettlement.Status.PAID,
        "CMB-1",
    )
    again = maker.post(
        f"{SETTLEMENTS}{settlement.pk}/payout/", {"bank_reference": "CMB-2"}, headers=EN
    )
    assert "already paid" in again.content.decode()
    settlement.refresh_from_db()
    assert settlement.bank_reference == "CMB-1"
