"""The API's view of a card: public facts only. The code, its digest, its ciphertext and key id
are not fields of this serializer, so no request can make them appear."""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from cards.models import Card, CardStatus
from cards.serializers.orders import money_field


class CardSerializer(serializers.Serializer[Card]):
    """Read with ``cards.selectors.attach_batches`` so the order and line come without a
    query per card."""

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
    status = serializers.CharField(
        read_only=True,
        help_text=format_lazy(
            gettext_lazy("One of: {values}."), values=", ".join(CardStatus.values)
        ),
    )
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
