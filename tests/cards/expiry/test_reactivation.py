"""Reactivation of an expired bearer card on its holder's request: found by serial or by code
(typed into a POST form, never in a URL), valid again for the configured months, its balance owed
on the card liability again, audited with a reason."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from billing.services.receivables import ledger_check_run
from cards.models import Card, CardStatus, CardTransaction
from cards.services.expiry import card_find, card_reactivate, cards_expire
from portal.errors import StateConflict
from portal.models import AuditEvent
from tests import factories
from tests.conftest import sign_in

from .helpers import (
    CARD_LIABILITY,
    DAY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    code_of,
    expiry_of,
    fresh,
    issued,
    line,
    owed,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def expired() -> list[Card]:
    cards = issued(buyer("Acme"), [line(bearer_product(), "100", 2)])
    now = expiry_of(cards[0]) + DAY
    cards_expire(now=now)
    return [fresh(card) for card in cards]


def test_a_card_is_found_by_serial_or_by_its_code_as_typed(expired) -> None:
    card = expired[0]
    assert card_find(serial=f"{card.serial_display[:4]} {card.serial_display[4:]}") == card
    assert card_find(code=code_of(card)) == card
    assert card_find(code=code_of(card).replace("-", " ").upper()) == card
    with pytest.raises(ValidationError) as refused:
        card_find(code="ABCDE-FGHJK-MNPQR-STVWX-YZ017")
    assert refused.value.code == "card_not_found"
    with pytest.raises(ValidationError) as refused:
        card_find(serial="123")
    assert refused.value.code == "serial_invalid"


def test_reactivation_extends_validity_and_moves_the_balance_back(expired, settings) -> None:
    settings.CARD_REACTIVATION_MONTHS = 36
    card = expired[0]
    ops = factories.operator()
    now = expiry_of(card) + 10 * DAY

    written = card_reactivate(
        card_id=card.pk, operator=ops, reason="Holder asked by phone", now=now
    )

    card = fresh(card)
    assert card.status == CardStatus.ACTIVE
    assert card.balance == Decimal("100.00")
    assert (card.expires_at.year - now.year, card.expires_at.month) == (3, now.month)
    assert written.kind == CardTransaction.Kind.REACTIVATE
    assert written.amount == Decimal("0.00")
    assert (written.actor, written.reason) == (ops, "Holder asked by phone")
    assert owed(EXPIRED_LIABILITY) == Decimal("100.00")
    assert owed(CARD_LIABILITY) == Decimal("100.00")
    event = AuditEvent.objects.get(action="card.reactivated")
    assert event.actor == ops
    assert event.changes["reason"] == "Holder asked by phone"
    assert ledger_check_run().ok


def test_only_an_expired_card_with_money_is_reactivated_and_a_reason_is_required(expired) -> None:
    ops = factories.operator()
    card = expired[0]
    with pytest.raises(ValidationError) as refused:
        card_reactivate(card_id=card.pk, operator=ops, reason="  ")
    assert refused.value.code == "reason_required"
    card_reactivate(card_id=card.pk, operator=ops, reason="Holder's request")
    with pytest.raises(StateConflict) as conflict:
        card_reactivate(card_id=card.pk, operator=ops, reason="Again")
    assert conflict.value.code == "card_not_expired"
    empty = expired[1]
    Card.objects.filter(pk=empty.pk).update(balance=Decimal("0.00"))
    with pytest.raises(StateConflict) as conflict:
        card_reactivate(card_id=empty.pk, operator=ops, reason="Holder's request")
    assert conflict.value.code == "card_empty"


def test_a_reactivated_card_expires_again_at_its_new_date(expired) -> None:
    card = expired[0]
    now = expiry_of(card) + 30 * DAY
    card_reactivate(
        card_id=card.pk, operator=factories.operator(), reason="Holder's request", now=now
    )
    later = expiry_of(card) + DAY

    assert cards_expire(now=later).cards == 1

    assert fresh(card).status == CardStatus.EXPIRED
    assert card.transactions.filter(kind=CardTransaction.Kind.EXPIRE).count() == 2
    assert owed(EXPIRED_LIABILITY) == Decimal("200.00")


# --- The operators' admin -----------------------------------------------------------------------


@pytest.fixture
def ops_client() -> Client:
    from django.contrib.auth.models import Permission

    ops = factories.operator("desk@issuer.example")
    ops.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cards",
            codename__in=[
                "view_expiredcard",
                "change_expiredcard",
                "view_card",
                "view_cardtransaction",
            ],
        )
    )
    client = Client()
    sign_in(client, ops, second_factor=True)
    return client


def test_the_admin_reactivates_a_card_by_the_code_typed_in_a_post_form(expired, ops_client) -> None:
    card = expired[0]
    url = reverse("admin:cards_expiredcard_reactivate")
    listing = ops_client.get(reverse("admin:cards_expiredcard_changelist"))
    assert listing.status_code == 200
    assert card.serial_display in listing.content.decode()
    detail = ops_client.get(reverse("admin:cards_expiredcard_change", args=[card.pk]))
    assert detail.status_code == 200
    assert "Expiry" in detail.content.decode()  # its history, the expire transaction
    page = ops_client.get(url)
    assert page.status_code == 200
    assert 'type="password"' in page.content.decode()

    done = ops_client.post(url, {"code": code_of(card), "reason": "Holder came to the desk"})

    assert done.status_code == 302
    assert done.url == reverse("admin:cards_card_change", args=[card.pk])
    assert fresh(card).status == CardStatus.ACTIVE
    assert code_of(card).upper() not in done.url.upper()


def test_the_admin_form_says_why_it_refuses(expired, ops_client) -> None:
    url = reverse("admin:cards_expiredcard_reactivate")
    answer = ops_client.post(url, {"serial": "8600 0000 0000 0000", "reason": "x"})
    assert answer.status_code == 200
    assert "No card has this serial or code" in answer.content.decode()
    answer = ops_client.post(url, {"reason": "x"})
    assert "Type the card&#x27;s serial or its code." in answer.content.decode()


def test_an_operator_without_the_permission_cannot_reactivate(expired) -> None:
    client = Client()
    sign_in(client, factories.operator(), second_factor=True)
    url = reverse("admin:cards_expiredcard_reactivate")
    answer = client.post(url, {"serial": expired[0].serial_display, "reason": "x"})
    assert answer.status_code == 403
    assert fresh(expired[0]).status == CardStatus.EXPIRED
