"""Card service under real concurrency on PostgreSQL: two operators refunding the same card,
two second operators approving the same request, at the same instant (threads with their own
connections, released by a barrier)."""

# mypy: disable-error-code="union-attr, arg-type, misc"

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from billing.models import Invoice, JournalEntry
from billing.services.receivables.ledger_check import _check_ledger_balanced, _check_receivables
from cards.invariants import card_liability_check
from cards.models import CardServiceRequest, CardStatus, CardTransaction
from cards.services.card_service import (
    card_service_request_approve,
    card_service_start,
    order_refund_unused_cards,
)
from tests import factories
from tests.billing.test_payment_concurrency import together
from tests.cards import card_service_data as data

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


@pytest.fixture(autouse=True)
def rules(settings: Any) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40
    settings.CARD_SERVICE_SECOND_OPERATOR_ABOVE = Decimal("1000.00")


def test_two_operators_refunding_the_same_card_refund_it_once() -> None:
    shop = data.shop()
    other = factories.operator()
    order = data.issue(shop, quantity=2)
    card = data.cards_of(order)[0]
    results = together(
        [
            lambda actor=actor: order_refund_unused_cards(
                order=order, cards=[card], actor=actor, reason="Event cancelled"
            )
            for actor in (shop.maker, other)
        ]
    )
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(refused) == 1, results
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1
    assert CardTransaction.objects.filter(card=card, kind=CardTransaction.Kind.VOID).count() == 1
    assert _check_ledger_balanced()["ok"]
    assert _check_receivables()["ok"]
    assert card_liability_check()["ok"]


def test_two_second_operators_approving_at_once_run_the_act_once() -> None:
    shop = data.shop()
    third = factories.operator()
    card = data.cards_of(data.issue(shop, registered=True, face_value="2000", quantity=1))[0]
    request = card_service_start(
        card=card, action="reissue", reason="Lost", actor=shop.maker
    ).request
    results = together(
        [
            lambda actor=actor: card_service_request_approve(service_request=request, actor=actor)
            for actor in (shop.checker, third)
        ]
    )
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(refused) == 1, results
    assert "already approved" in refused[0].messages[0]
    request.refresh_from_db()
    assert request.status == CardServiceRequest.Status.APPROVED
    card.refresh_from_db()
    assert card.status == CardStatus.VOIDED
    assert card.reissued_as.balance == Decimal("2000.00")
    assert CardTransaction.objects.filter(kind=CardTransaction.Kind.REISSUE_OUT).count() == 1
    assert not JournalEntry.objects.filter(kind="card_void").exists()
