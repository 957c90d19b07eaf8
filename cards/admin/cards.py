"""Operators' admin for issued cards, card transactions and delivery to recipients: read-only,
never loading or showing a code (digest, ciphertext, key id) or a link token's digest."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin, ReadOnlyInline
from billing.admin.base import money_column
from cards.models import Card, CardTransaction, RecipientDelivery


class EstimatedCountPaginator(Paginator):
    """Counting every row of a table of millions of cards takes seconds; an unfiltered list
    shows PostgreSQL's estimate instead. Any filter or search counts for real."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if (
            connection.vendor == "postgresql"
            and isinstance(queryset, QuerySet)
            and not queryset.query.where
        ):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return int(row[0])
        return super().count


# Never loaded for the admin's pages, let alone shown: the code's digest, ciphertext and key id.
CARD_SECRET_FIELDS = ("digest", "ciphertext", "key_id")


class CardTransactionInline(ReadOnlyInline):
    model = CardTransaction
    fields = ["created_at", "kind", "amount", "balance_after", "merchant_reference"]
    ordering = ["-created_at", "-id"]


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    """Cards are read here, never edited: a balance moves only through card transactions. The
    search takes one exact serial; it never looks at codes. Canary cards (never sold,
    docs/codes.md) are flagged and can be filtered; like every code, theirs is never shown."""

    list_display = [
        "serial_display",
        "last4_display",
        money_column(Card, "face_value"),
        money_column(Card, "balance"),
        "status",
        "expires_at",
        "is_canary",
        "is_test",
    ]
    # Test cards (a sandbox's, docs/api.md "Test mode") are flagged and can be filtered out.
    list_filter = ["status", "is_canary", "is_test"]
    search_fields = ["serial"]
    search_help_text = _("One card's 16-digit serial (spaces are ignored).")
    fields = [
        "serial_display",
        "last4_display",
        "batch",
        "face_value",
        "balance",
        "status",
        "expires_at",
        "created_at",
        "is_canary",
    ]
    exclude = CARD_SECRET_FIELDS
    inlines = [CardTransactionInline]
    ordering = ["serial"]
    sortable_by = ["serial_display"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Card]:
        return super().get_queryset(request).defer(*CARD_SECRET_FIELDS)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.replace(" ", "").replace("-", "")
        if not term:
            return queryset, False
        if not term.isascii() or not term.isdigit() or len(term) != 16:
            return queryset.none(), False
        return queryset.filter(serial=int(term)), False

    @admin.display(description=_("serial"), ordering="serial")
    def serial_display(self, obj: Card) -> str:
        return obj.serial_display

    @admin.display(description=_("last 4"))
    def last4_display(self, obj: Card) -> str:
        return f"···{obj.last4}"


@admin.register(CardTransaction)
class CardTransactionAdmin(ReadOnlyAdmin):
    """Append-only movements of card balances. Search by the card's exact serial."""

    list_display = [
        "created_at",
        "card_serial",
        "kind",
        money_column(CardTransaction, "amount"),
        money_column(CardTransaction, "balance_after"),
        "merchant_reference",
    ]
    list_filter = ["kind"]
    search_fields = ["card__serial"]
    search_help_text = _("One card's 16-digit serial (spaces are ignored).")
    fields = [
        "card_serial",
        "kind",
        "amount",
        "balance_after",
        "merchant_reference",
        "idempotency_key",
        "created_at",
    ]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CardTransaction]:
        return (
            super()
            .get_queryset(request)
            .select_related("card")
            .defer(*(f"card__{name}" for name in CARD_SECRET_FIELDS))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.replace(" ", "").replace("-", "")
        if not term:
            return queryset, False
        if not term.isascii() or not term.isdigit() or len(term) != 16:
            return queryset.none(), False
        return queryset.filter(card__serial=int(term)), False

    @admin.display(description=_("card"), ordering="card__serial")
    def card_serial(self, obj: CardTransaction) -> str:
        return str(obj.card)


@admin.register(RecipientDelivery)
class RecipientDeliveryAdmin(ReadOnlyAdmin):
    """Delivery to recipients, for the service desk. Never shows the link token's digest."""

    list_display = (
        "order",
        "card_serial",
        "masked_recipient",
        "status",
        "send_count",
        "sent_at",
        "opened_at",
        "revealed_at",
        "bounced_at",
        "last_error",
    )
    list_filter = ("status",)
    search_fields = ("order__number",)
    list_select_related = ("order", "card")
    exclude = ("token_digest",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecipientDelivery]:
        return (
            super().get_queryset(request).defer("token_digest", "card__ciphertext", "card__digest")
        )

    @admin.display(description=_("serial"))
    def card_serial(self, obj: RecipientDelivery) -> str:
        return obj.card.serial_display

    @admin.display(description=_("recipient"))
    def masked_recipient(self, obj: RecipientDelivery) -> str:
        from portal.crypto import mask

        parts = [obj.recipient_name]
        if obj.email:
            name, _sep, domain = obj.email.partition("@")
            parts.append(f"{name[:2]}***@{domain}")
        if obj.mobile:
            parts.append(mask(obj.mobile, keep_start=3, keep_end=4))
        return " · ".join(p for p in parts if p)
