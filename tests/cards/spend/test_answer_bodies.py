"""The merchant API builds its busiest answers as plain dicts; the serializers that document them
in the schema must give the very same answer, for every kind of card and transaction."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from cards.models import Card, CardTransaction
from cards.serializers.merchant import (
    BalanceSerializer,
    MerchantTransactionSerializer,
    balance_body,
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
