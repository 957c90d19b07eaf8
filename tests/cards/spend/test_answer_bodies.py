"""The merchant API reads its busiest requests and builds its busiest answers without serializer
instances; the serializers that document them in the schema must read and answer the very same,
for every kind of card and transaction."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from cards.models import Card, CardTransaction
from cards.serializers.merchant import (
    BalanceRequestSerializer,
    BalanceSerializer,
    MerchantTransactionSerializer,
    SpendRequestSerializer,
    balance_body,
    balance_request_plain,
    spend_request_plain,
    transaction_body,
)
from cards.services.spend import hold_capture, hold_create, redemption_create, refund_create
from tests.cards.spend.helpers import issued_card, merchant_key, new_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _documented_balance(card: Card) -> dict[str, object]:
    return dict(
        BalanceSerializer(
            {
                "serial": card.serial_display,
                "balance": card.balance - card.held,
                "currency": "CNY",
                "status": card.status,
                "expires_at": card.expires_at,
            }
        ).data
    )


def test_the_balance_answer_is_what_its_serializer_documents() -> None:
    bearer = issued_card("100").card
    no_expiry = issued_card("200").card
    Card.objects.filter(pk=no_expiry.pk).update(expires_at=None)
    no_expiry.refresh_from_db()
    for card in (bearer, no_expiry):
        for zone in ("Asia/Shanghai", "UTC"):
            with timezone.override(zone), translation.override("zh-hans"):
                assert balance_body(card) == _documented_balance(card)
    assert balance_body(bearer)["balance"] == "100.00"
    assert balance_body(no_expiry)["expires_at"] is None


def test_every_transaction_answer_is_what_its_serializer_documents() -> None:
    key, _plaintext = merchant_key()
    first, second = issued_card("100"), issued_card("100")
    redeemed = redemption_create(
        key=key,
        code=first.code,
        amount=Decimal("12.5"),
        merchant_reference="R-1",
        idempotency_key=new_key(),
    ).transaction
    refunded = refund_create(
        key=key,
        redemption_id=str(redeemed.public_id),
        amount=Decimal("2.25"),
        merchant_reference="",
        idempotency_key=new_key(),
    ).transaction
    hold, _replayed = hold_create(
        key=key,
        code=second.code,
        amount=Decimal("30"),
        merchant_reference="H-1",
        idempotency_key=new_key(),
    )
    captured = hold_capture(
        key=key, hold_id=hold.public_id, amount=Decimal("20"), idempotency_key=new_key()
    ).transaction
    for tx in (redeemed, refunded, captured):
        stored = CardTransaction.objects.select_related("card", "original", "hold").get(pk=tx.pk)
        for candidate in (tx, stored):
            with timezone.override(datetime.UTC):
                assert transaction_body(candidate) == dict(
                    MerchantTransactionSerializer(candidate).data
                )
    assert transaction_body(refunded)["redemption"] == str(redeemed.public_id)
    assert transaction_body(captured)["hold"] == str(hold.public_id)
    assert transaction_body(refunded)["amount"] == "2.25"


@pytest.mark.parametrize(
    "body",
    [
        {"code": "ABCDE-FGHJK", "amount": "12.5", "merchant_reference": "R-1"},
        {"code": " abcde fghjk ", "amount": "0.01", "merchant_reference": "  POS 7  "},
        {"code": "X", "amount": Decimal("999999999999.99"), "merchant_reference": "R" * 64},
        {"code": "X", "amount": "100", "merchant_reference": "R", "extra": "ignored"},
        {"code": "X", "amount": " 7.10 ", "merchant_reference": "R"},
    ],
)
def test_a_plain_spend_request_reads_as_its_serializer_reads_it(body: dict[str, object]) -> None:
    serializer = SpendRequestSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert spend_request_plain(body) == dict(serializer.validated_data)


@pytest.mark.parametrize(
    "body",
    [
        {"code": "X", "amount": "0.00", "merchant_reference": "R"},
        {"code": "X", "amount": "0.001", "merchant_reference": "R"},
        {"code": "X", "amount": "1e3", "merchant_reference": "R"},
        {"code": "X", "amount": 12.5, "merchant_reference": "R"},
        {"code": "X", "amount": "1000000000000", "merchant_reference": "R"},
        {"code": "X", "amount": "5", "merchant_reference": "   "},
        {"code": "X", "amount": "5", "merchant_reference": "R" * 65},
        {"code": "X\x00", "amount": "5", "merchant_reference": "R"},
        {"code": 12345, "amount": "5", "merchant_reference": "R"},
        {"amount": "5", "merchant_reference": "R"},
        ["not", "an", "object"],
    ],
)
def test_anything_else_goes_through_the_serializer(body: object) -> None:
    assert spend_request_plain(body) is None


def test_a_plain_balance_request_reads_as_its_serializer_reads_it() -> None:
    for body in ({"code": " abcde-fghjk "}, {"code": "", "other": 1}):
        serializer = BalanceRequestSerializer(data=body)
        assert serializer.is_valid(), serializer.errors
        assert balance_request_plain(body) == dict(serializer.validated_data)
    for other in ({"code": None}, {"code": 5}, {}, "code", {"code": "a\x00b"}):
        assert balance_request_plain(other) is None
