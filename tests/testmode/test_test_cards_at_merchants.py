"""A test card at a merchant's checkout: the merchant API refuses its code with ``test_card``
(balance, redemption and hold alike), moves nothing, and neither records nor counts it as a
guess; the code alone tells, so a made-up TEST code gets the same answer."""

from __future__ import annotations

import pytest

from cards import codes
from cards.models import Card, CardTransaction, MerchantLookupFailure
from cards.services.spend import SandboxCardRefused, card_find
from tests import factories
from tests.cards.spend.helpers import BALANCE, HOLDS, REDEMPTIONS, MerchantApi, merchant_key
from tests.testmode.helpers import code_of, integrator, issue, ordered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def test_card() -> tuple[Card, str]:
    acme = integrator()
    order = issue(ordered(acme.test(), factories.product(), quantity=1))
    card = Card.objects.get(batch__order=order)
    return card, code_of(card)


@pytest.fixture
def checkout() -> MerchantApi:
    _key, plaintext = merchant_key()
    return MerchantApi(plaintext)


def test_a_balance_check_of_a_test_card_says_test_card(test_card, checkout):
    _card, code = test_card

    response = checkout.post(BALANCE, {"code": code})

    assert response.status_code == 422
    assert response.json()["code"] == "test_card"
    assert "test card" in response.json()["detail"]
    assert not MerchantLookupFailure.objects.exists()


@pytest.mark.parametrize("path", [REDEMPTIONS, HOLDS])
def test_a_test_card_cannot_be_spent(test_card, checkout, path):
    card, code = test_card

    response = checkout.post(
        path,
        {"code": code.lower().replace("-", " "), "amount": "10.00", "merchant_reference": "T1"},
        idempotency_key="spend-1",
    )

    assert response.status_code == 422
    assert response.json()["code"] == "test_card"
    card.refresh_from_db()
    assert card.balance == card.face_value
    assert card.held == 0
    assert not CardTransaction.objects.exists()


def test_a_made_up_test_code_gets_the_same_answer(checkout):
    body = "7" * 24
    made_up = "TEST-" + codes.format_code(body + codes.check_symbol(body))

    response = checkout.post(BALANCE, {"code": made_up})

    assert response.status_code == 422
    assert response.json()["code"] == "test_card"


def test_the_look_up_reads_the_test_mark_from_the_card_row_too():
    acme = integrator()
    card = Card.objects.get(
        batch__order=issue(ordered(acme.live(), factories.product(), quantity=1))
    )
    code = code_of(card)
    assert card_find(code=code).pk == card.pk
    Card.objects.filter(pk=card.pk).update(is_test=True)

    with pytest.raises(SandboxCardRefused):
        card_find(code=code)


def test_the_schema_documents_the_test_card_answer():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    balance = schema["paths"][BALANCE]["post"]["responses"]
    redeem = schema["paths"][REDEMPTIONS]["post"]["responses"]
    assert "test_card" in balance["422"]["description"]
    assert "test_card" in redeem["422"]["description"]
    assert "idempotency_key_reused" in redeem["422"]["description"]
