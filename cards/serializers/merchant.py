"""The merchant API's shapes: what a checkout sends and what it gets back. A code is only ever
in a request; answers carry the card's public serial."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from cards.models import CardHold, CardTransaction, HoldStatus
from cards.serializers.orders import money_field
from cards.services.spend.lookup import USABLE_STATUSES
from portal.api.schema import text_enum

CURRENCY = "CNY"
MAX_REFERENCE = 64
Kind = CardTransaction.Kind


def _code_field() -> serializers.CharField:
    return serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text=gettext_lazy(
            "The card's secret code as the customer gave it: upper or lower case, with or "
            "without spaces and hyphens (ABCDE-FGHJK-MNPQR-STVWX-YZ017)."
        ),
    )


def _amount_field(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        coerce_to_string=True,
        **kwargs,
    )


def _reference_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        max_length=MAX_REFERENCE,
        help_text=gettext_lazy("Your order or receipt number, shown on the card's history."),
        **kwargs,
    )


class BalanceRequestSerializer(serializers.Serializer[Any]):
    code = _code_field()


class SpendRequestSerializer(serializers.Serializer[Any]):
    """A redemption or a hold."""

    code = _code_field()
    amount = _amount_field(help_text=gettext_lazy("In CNY, at most 2 decimals, e.g. 99.50."))
    merchant_reference = _reference_field()


class CaptureRequestSerializer(serializers.Serializer[Any]):
    amount = _amount_field(
        required=False,
        help_text=gettext_lazy("How much of the hold to redeem; all of it when left out."),
    )


class RefundRequestSerializer(serializers.Serializer[Any]):
    redemption = serializers.UUIDField(
        help_text=gettext_lazy("The id of the redemption to refund (from its answer).")
    )
    amount = _amount_field(
        help_text=gettext_lazy("At most what is left of the redemption after earlier refunds.")
    )
    merchant_reference = _reference_field(required=False, allow_blank=True)


class BalanceSerializer(serializers.Serializer[Any]):
    serial = serializers.CharField(
        help_text=gettext_lazy("The card number (public): 16 digits, the last a check digit.")
    )
    balance = money_field(
        help_text=gettext_lazy("What can be spent now: the balance less open holds.")
    )
    currency = serializers.CharField(help_text=gettext_lazy("Always CNY."))
    status = text_enum([str(status) for status in USABLE_STATUSES], read_only=True)
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text=gettext_lazy("Empty for a card that does not expire (registered cards)."),
    )


# The busiest requests in the plain shape nearly every checkout sends are read without a
# serializer instance (which deep-copies its fields on every request); anything else, errors
# included, goes through the serializer. tests/cards/spend/test_answer_bodies.py holds both to
# the same answers.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?")
_CENT = Decimal("0.01")


def _plain_text(value: object) -> bool:
    return isinstance(value, str) and "\x00" not in value


def balance_request_plain(data: object) -> dict[str, Any] | None:
    """``BalanceRequestSerializer``'s validated data for a plain request, else None."""
    if not isinstance(data, dict) or not _plain_text(code := data.get("code")):
        return None
    return {"code": code}


def spend_request_plain(data: object) -> dict[str, Any] | None:
    """``SpendRequestSerializer``'s validated data for a plain request (a code, an amount such as
    "99.50", a reference), else None."""
    if not isinstance(data, dict):
        return None
    code, amount, reference = data.get("code"), data.get("amount"), data.get("merchant_reference")
    if not _plain_text(code) or not _plain_text(reference):
        return None
    reference = str(reference).strip()
    if not reference or len(reference) > MAX_REFERENCE:
        return None
    if not isinstance(amount, str | Decimal) or not _PLAIN_AMOUNT.fullmatch(str(amount).strip()):
        return None
    value = Decimal(str(amount).strip()).quantize(_CENT)
    if value < _CENT:
        return None
    return {"code": code, "amount": value, "merchant_reference": reference}


# The answers of the busiest endpoints are built as plain dicts (a serializer instance deep-copies
# its fields on every answer, about as much as the rest of a balance check costs); the serializer
# classes document them in the schema, and tests/cards/spend/test_answer_bodies.py checks that
# both give the same answer.
_DATETIME = serializers.DateTimeField()


def _when(value: Any) -> str | None:
    return None if value is None else str(_DATETIME.to_representation(value))


def balance_body(card: Any) -> dict[str, Any]:
    """``BalanceSerializer``'s answer for this card."""
    return {
        "serial": card.serial_display,
        "balance": f"{card.balance - card.held:.2f}",
        "currency": CURRENCY,
        "status": str(card.status),
        "expires_at": _when(card.expires_at),
    }


def transaction_body(tx: CardTransaction) -> dict[str, Any]:
    """``MerchantTransactionSerializer``'s answer for this transaction."""
    original, hold = tx.original, tx.hold
    return {
        "id": str(tx.public_id),
        "kind": str(tx.kind),
        "serial": tx.card.serial_display,
        "amount": f"{abs(tx.amount):.2f}",
        "currency": CURRENCY,
        "balance_after": f"{tx.balance_after:.2f}",
        "merchant_reference": tx.merchant_reference,
        "redemption": str(original.public_id) if original is not None else None,
        "hold": str(hold.public_id) if hold is not None else None,
        "created_at": _when(tx.created_at),
    }


class MerchantTransactionSerializer(serializers.Serializer[CardTransaction]):
    """A redemption, a refund or a voided redemption."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    kind = text_enum(
        [
            CardTransaction.Kind.REDEEM,
            CardTransaction.Kind.REFUND,
            CardTransaction.Kind.REDEEM_VOID,
        ],
        read_only=True,
    )
    serial = serializers.CharField(source="card.serial_display", read_only=True)
    amount = serializers.SerializerMethodField(
        help_text=gettext_lazy("The amount moved, always positive (the kind says which way).")
    )
    currency = serializers.SerializerMethodField()
    balance_after = money_field(
        help_text=gettext_lazy("The card's balance right after this transaction (holds included).")
    )
    merchant_reference = serializers.CharField(read_only=True)
    redemption = serializers.UUIDField(
        source="original.public_id",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("For a refund or a void: the redemption it concerns."),
    )
    hold = serializers.UUIDField(
        source="hold.public_id",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("For a captured hold: the hold."),
    )
    created_at = serializers.DateTimeField(read_only=True)

    def get_amount(self, obj: CardTransaction) -> str:
        return f"{abs(obj.amount):.2f}"

    def get_currency(self, obj: CardTransaction) -> str:
        return CURRENCY


class HoldSerializer(serializers.Serializer[CardHold]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    serial = serializers.CharField(source="card.serial_display", read_only=True)
    amount = money_field(help_text=gettext_lazy("The amount held."))
    captured = money_field(help_text=gettext_lazy("How much of it was redeemed by a capture."))
    currency = serializers.SerializerMethodField()
    status = text_enum(HoldStatus.values, read_only=True)
    merchant_reference = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(
        read_only=True,
        help_text=gettext_lazy(
            "When the hold ends by itself if it is neither captured nor released."
        ),
    )
    created_at = serializers.DateTimeField(read_only=True)

    def get_currency(self, obj: CardHold) -> str:
        return CURRENCY


def hold_created_body(hold: CardHold) -> dict[str, Any]:
    """The answer to a new hold, as it was when made: a replay answers the same whatever
    happened to the hold since."""
    data = dict(HoldSerializer(hold).data)
    data.update({"status": HoldStatus.HELD.value, "captured": "0.00"})
    return data


__all__ = [
    "CURRENCY",
    "BalanceRequestSerializer",
    "BalanceSerializer",
    "CaptureRequestSerializer",
    "HoldSerializer",
    "MerchantTransactionSerializer",
    "RefundRequestSerializer",
    "SpendRequestSerializer",
    "balance_body",
    "balance_request_plain",
    "hold_created_body",
    "spend_request_plain",
    "transaction_body",
]
