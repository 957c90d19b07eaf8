"""The API's view of a card: public facts only. The code, its digest, its ciphertext and key id
are not fields of this serializer, so no request can make them appear."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from cards.models import Card, CardStatus
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
    balance = money_field()
    status = text_enum(CardStatus.values, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
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
