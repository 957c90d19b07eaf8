"""Reads of one card and its history (the card transactions), shared by the buyer's card page,
the API (``/api/v1/cards/{serial}/transactions``) and the cardholder's balance page.

A card is found by its serial among batches the caller has already scoped to one company
(``portal.access.company_objects`` or ``portal.api.access``), so another company's serial is
not found, and neither is a canary card's (never sold, docs/codes.md). Never by its code, and
never loading its digest or ciphertext.
"""

from __future__ import annotations

from django.db.models import QuerySet

from cards.models import Batch, Card, CardTransaction
from cards.selectors import SERIAL_DIGITS

# What a card page shows of the card; nothing secret is among them.
CARD_FIELDS = (
    "id",
    "serial",
    "batch_id",
    "last4",
    "face_value",
    "balance",
    "held",
    "status",
    "expires_at",
    "created_at",
    "last_activity_at",
)
TRANSACTION_FIELDS = (
    "id",
    "card_id",
    "kind",
    "amount",
    "balance_after",
    "merchant_reference",
    "created_at",
    "merchant__id",
    "merchant__name",
)


def serial_number(typed: str) -> int | None:
    """The serial of a URL (exactly 16 digits), or None for anything else."""
    if len(typed) != SERIAL_DIGITS or not typed.isdigit() or not typed.isascii():
        return None
    return int(typed)


def card_by_serial(batches: QuerySet[Batch], serial: str) -> Card | None:
    """The card with this serial among the cards of ``batches``, with its batch, order, line
    and product; None when it is not one of them (or the serial is malformed)."""
    number = serial_number(serial)
    if number is None:
        return None
    return (
        Card.objects.filter(
            serial=number, batch__in=batches.order_by().values("pk"), is_canary=False
        )
        .select_related("batch__order", "batch__line", "batch__product")
        .only(
            *CARD_FIELDS,
            "batch__id",
            "batch__order__id",
            "batch__order__number",
            "batch__line__id",
            "batch__line__position",
            "batch__line__recipient_name",
            "batch__line__employee_id",
            "batch__line__cost_center",
            "batch__product__id",
            "batch__product__name",
            "batch__product__name_en",
        )
        .first()
    )


def card_transactions(card: Card) -> QuerySet[CardTransaction]:
    """The card's movements, newest first, each with its merchant's name."""
    return (
        CardTransaction.objects.filter(card=card)
        .select_related("merchant")
        .only(*TRANSACTION_FIELDS)
        .order_by("-created_at", "-id")
    )
