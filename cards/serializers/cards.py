"""The API's view of a card: public facts only. The code, its digest, its ciphertext and key id
are not fields of this serializer, so no request can make them appear."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from cards.models import Card, CardStatus, CardTransaction
from cards.serializers.orders import money_field
from portal.api.schema import text_enum


class CardSerializer(serializers.Serializer[Card]):
    """An issued card: its public facts, never its code."""

    # Cards are read with their batches attached (cards.selectors.attach_batches), so the
    # order and line come without a query per card.

    serial = serializers.CharField(
        source="serial_display",
        read_only=True,
        help_text=gettext_lazy("The card number: 16 digits, the last a Luhn check digit."),
    )
    last4 = serializers.CharField(
        read_only=True, help_text=gettext_lazy("The last 4 symbols of the secret code.")
    )
    face_value = money_field()
    balance = money_field(
        help_text=gettext_lazy(
            "What is left on the card, including any amount reserved by a merchant's open hold."
        )
    )
    status = text_enum(CardStatus.values, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    last_activity_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy(
            "When the card's balance or status last changed (a purchase, a refund, a freeze "
            "...); empty for a card never used."
        ),
    )
    expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy("Empty for a card that does not expire (registered cards)."),
    )
    order = serializers.CharField(source="batch.order.number", read_only=True)
    line = serializers.IntegerField(
        source="batch.line.position",
        read_only=True,
        help_text=gettext_lazy("The order line the card was issued for."),
    )
    recipient_name = serializers.CharField(source="batch.line.recipient_name", read_only=True)
    employee_id = serializers.CharField(
        source="batch.line.employee_id",
        read_only=True,
        help_text=gettext_lazy("The employee ID of the order line the card was issued for."),
    )
    cost_center = serializers.CharField(
        source="batch.line.cost_center",
        read_only=True,
        help_text=gettext_lazy("The cost center of the order line the card was issued for."),
    )


class CardTransactionSerializer(serializers.Serializer[CardTransaction]):
    """One movement of a card: append-only, newest first."""

    kind = text_enum(CardTransaction.Kind.values, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    amount = money_field(
        help_text=gettext_lazy(
            "Signed: negative when value left the card (a purchase, an expiry, a void, a move to "
            "a replacement card), positive when value came to it (a refund, a voided purchase, "
            "a reactivation); zero for a change of status such as a freeze."
        )
    )
    balance_after = money_field(help_text=gettext_lazy("The card's balance after this movement."))
    merchant = serializers.CharField(
        source="merchant.name",
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy("The merchant's name; empty for a movement made by the issuer."),
    )
    merchant_reference = serializers.CharField(
        read_only=True, help_text=gettext_lazy("The merchant's own order reference, if any.")
    )
    created_at = serializers.DateTimeField(read_only=True)
