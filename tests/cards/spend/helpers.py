"""Builders for the merchant API's tests: issued cards with their codes, merchants with keys,
and a JSON client that sends a merchant key from a chosen address."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.test import Client

from billing.models import Account, Posting
from billing.money import ZERO
from cards import codes
from cards.invariants import LIVE_STATUSES
from cards.models import Card, Merchant, MerchantApiKey
from cards.services.spend import merchant_key_create
from tests import factories
from tests.cards.test_cards_pages import buyer, issued_order

ALL_SCOPES = list(MerchantApiKey.Scope.values)
BALANCE = "/api/v1/merchant/balance"
REDEMPTIONS = "/api/v1/merchant/redemptions"
REFUNDS = "/api/v1/merchant/refunds"
HOLDS = "/api/v1/merchant/holds"


def void_path(redemption_id: str) -> str:
    return f"/api/v1/merchant/redemptions/{redemption_id}/void"


def capture_path(hold_id: str) -> str:
    return f"/api/v1/merchant/holds/{hold_id}/capture"


def release_path(hold_id: str) -> str:
    return f"/api/v1/merchant/holds/{hold_id}/release"


@dataclass
class IssuedCard:
    card: Card
    code: str  # as shown to the holder: ABCDE-FGHJK-...

    def refresh(self) -> Card:
        self.card.refresh_from_db()
        return self.card


def issued_cards(face: str = "1000", count: int = 1) -> list[IssuedCard]:
    """Cards of a fulfilled credit order (their face value posted to the card liability), each
    with its code."""
    order = issued_order(buyer(), (face, count, ""))
    cards = Card.objects.filter(batch__order=order).order_by("serial")
    return [
        IssuedCard(
            card=card,
            code=codes.reveal(
                serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
            ),
        )
        for card in cards
    ]


def issued_card(face: str = "1000") -> IssuedCard:
    return issued_cards(face, 1)[0]


def merchant(name: str = "好又多超市") -> Merchant:
    return Merchant.objects.create(
        name=name,
        settlement_account_name=f"{name}有限公司",
        settlement_bank="中国银行上海分行",
        settlement_account_number="6216 6100 0000 1234",
    )


def merchant_key(
    of: Merchant | None = None, scopes: list[str] | None = None
) -> tuple[MerchantApiKey, str]:
    return merchant_key_create(
        merchant=of or merchant(),
        name="收银台",
        scopes=ALL_SCOPES if scopes is None else scopes,
        actor=factories.operator(),
    )


class MerchantApi:
    """A JSON client sending one merchant key (or any Authorization) from one address."""

    def __init__(self, key: str | None, *, ip: str = "198.51.100.7", language: str = "en"):
        headers = {"accept-language": language}
        if key:
            headers["authorization"] = f"Bearer {key}"
        self.client = Client(headers=headers, REMOTE_ADDR=ip)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        ip: str | None = None,
        **headers: str,
    ) -> Any:
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        data = json.dumps({} if body is None else body)
        if ip:
            return self.client.post(
                path, data=data, content_type="application/json", headers=headers, REMOTE_ADDR=ip
            )
        return self.client.post(path, data=data, content_type="application/json", headers=headers)

    def redeem(self, code: str, amount: str, *, key: str | None = None, ref: str = "R-1") -> Any:
        return self.post(
            REDEMPTIONS,
            {"code": code, "amount": amount, "merchant_reference": ref},
            idempotency_key=key or str(uuid.uuid4()),
        )


def new_key() -> str:
    return str(uuid.uuid4())


def liability() -> Decimal:
    """The card liability as a positive amount (a credit balance)."""
    posted = (
        Posting.objects.filter(account__kind=Account.Kind.CARD_LIABILITY).aggregate(
            s=Sum("amount")
        )["s"]
        or ZERO
    )
    return -posted


def payable(of: Merchant) -> Decimal:
    posted = (
        Posting.objects.filter(
            account__kind=Account.Kind.MERCHANT_PAYABLE, account__code__endswith=str(of.public_id)
        ).aggregate(s=Sum("amount"))["s"]
        or ZERO
    )
    return -posted


def assert_books_agree() -> None:
    """The ledger balances, the card liability equals the live cards' balances, and each card's
    balance is its face value plus its transactions."""
    assert (Posting.objects.aggregate(s=Sum("amount"))["s"] or ZERO) == ZERO
    live = Card.objects.filter(status__in=LIVE_STATUSES).aggregate(s=Sum("balance"))["s"] or ZERO
    assert liability() == live
    for card in Card.objects.filter(transactions__isnull=False).distinct():
        moved = card.transactions.aggregate(s=Sum("amount"))["s"] or ZERO
        assert card.balance == card.face_value + moved, card.serial_display
        assert ZERO <= card.held <= card.balance
