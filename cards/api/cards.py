"""Buyer API: issued cards (/api/v1/cards, /api/v1/orders/{number}/cards) without secrets, and
a card's transactions (/api/v1/cards/{serial}/transactions).

Scoped to the API key's company through ``portal.api.access`` (another company's order or card
is a 404) and read with the ``orders:read`` scope. Pages are cursors, over the serial for cards
and over the time for transactions: no count over a million rows, and a page far into a large
order costs what the first one does.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from cards.api.orders import _date_or_datetime
from cards.card_history import card_by_serial, card_transactions
from cards.models import Batch, Card, CardStatus, CardTransaction, Order
from cards.selectors import (
    CardFilters,
    SerialSearchError,
    attach_batches,
    cards_of_batches,
    serial_range,
)
from cards.serializers import CardSerializer, CardTransactionSerializer
from portal import days
from portal.api.access import ApiAccess
from portal.api.schema import DATE_OR_DATETIME, ERROR_RESPONSES
from portal.policy import Action


class CardCursorPagination(CursorPagination):
    """``next`` and ``previous`` links carry an opaque cursor; there is no total count."""

    ordering = "serial"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


_FILTER_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=CardStatus.values),
    OpenApiParameter(
        "serial",
        OpenApiTypes.STR,
        description=gettext_lazy(
            "A full 16-digit serial, or its first digits to list every card starting with them."
        ),
    ),
    OpenApiParameter(
        "cost_center",
        OpenApiTypes.STR,
        description=gettext_lazy(
            "Only the cards of order lines with this cost center (the whole value, any case)."
        ),
    ),
    OpenApiParameter(
        "employee_id",
        OpenApiTypes.STR,
        description=gettext_lazy(
            "Only the cards of order lines with this employee ID (the whole value, any case)."
        ),
    ),
    OpenApiParameter(
        "issued_after",
        DATE_OR_DATETIME,
        description=gettext_lazy("Cards issued on or after this date (Asia/Shanghai) or time."),
    ),
    OpenApiParameter(
        "issued_before",
        DATE_OR_DATETIME,
        description=gettext_lazy(
            "Cards issued on or before this date (Asia/Shanghai), or before this time."
        ),
    ),
    OpenApiParameter(
        "last_activity_after",
        DATE_OR_DATETIME,
        description=gettext_lazy(
            "Cards last used or changed on or after this date (Asia/Shanghai) or time."
        ),
    ),
    OpenApiParameter(
        "last_activity_before",
        DATE_OR_DATETIME,
        description=gettext_lazy(
            "Cards last used or changed on or before this date (Asia/Shanghai), or before this "
            "time; cards never used are left out of any date of activity."
        ),
    ),
]


def _day_or_instant(name: str, raw: str) -> datetime.date | datetime.datetime | None:
    """A filter's value: a day (``2026-03-04``, an Asia/Shanghai day) or an instant. A bare date
    is a day, never its midnight (``parse_datetime`` would take it for one)."""
    raw = raw.strip()
    if len(raw) == len("2026-03-04"):
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        if day is not None:
            return day
    return _date_or_datetime(name, raw)


def _lower_bound(name: str, raw: str) -> datetime.datetime | None:
    """An ``..._after`` filter as the first instant it keeps: a day from its 00:00."""
    value = _day_or_instant(name, raw)
    if value is None or isinstance(value, datetime.datetime):
        return value
    return days.day_start(value)


def _upper_bound(name: str, raw: str) -> datetime.datetime | None:
    """A ``..._before`` filter as the first instant it leaves out: a day keeps all of itself."""
    value = _day_or_instant(name, raw)
    if value is None or isinstance(value, datetime.datetime):
        return value
    return days.day_end(value)


class _CardListBase(ApiAccess, viewsets.GenericViewSet[Card]):
    policy_actions = {"list": Action.ORDER_READ}
    serializer_class = CardSerializer
    pagination_class = CardCursorPagination

    def batches(self) -> QuerySet[Batch]:
        return self.company_objects(Batch)

    def filters(self) -> CardFilters:
        params = self.request.query_params
        status_value = params.get("status", "").strip()
        if status_value and status_value not in CardStatus.values:
            raise ValidationError(
                {
                    "status": _("Unknown status “%(value)s”; use one of %(values)s.")
                    % {"value": status_value, "values": ", ".join(CardStatus.values)}
                }
            )
        try:
            serial = serial_range(params.get("serial", ""))
        except SerialSearchError as exc:
            raise ValidationError({"serial": str(exc)}) from exc
        return CardFilters(
            status=status_value,
            serial=serial,
            cost_center=params.get("cost_center", "").strip(),
            employee_id=params.get("employee_id", "").strip(),
            issued_from=_lower_bound("issued_after", params.get("issued_after", "")),
            issued_to=_upper_bound("issued_before", params.get("issued_before", "")),
            activity_from=_lower_bound(
                "last_activity_after", params.get("last_activity_after", "")
            ),
            activity_to=_upper_bound(
                "last_activity_before", params.get("last_activity_before", "")
            ),
        )

    def get_queryset(self) -> QuerySet[Card]:
        return cards_of_batches(self.batches(), self.filters())

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(
            self.get_serializer(attach_batches(page), many=True).data
        )


class CardViewSet(_CardListBase):
    """Every card of the key's company."""

    def batches(self) -> QuerySet[Batch]:
        batches = super().batches()
        number = self.request.query_params.get("order", "").strip()
        if number:
            batches = batches.filter(order__number=number.upper())
        return batches

    @extend_schema(
        summary=gettext_lazy("List the company's cards, by serial"),
        parameters=[
            *_FILTER_PARAMETERS,
            OpenApiParameter(
                "order",
                OpenApiTypes.STR,
                description=gettext_lazy("Only the cards of this order number."),
            ),
        ],
        responses={200: CardSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class OrderCardViewSet(_CardListBase):
    """The cards of one order of the key's company."""

    def batches(self) -> QuerySet[Batch]:
        order = self.company_object_or_404(Order, number=self.kwargs["number"])
        return order.batches.all()

    @extend_schema(
        summary=gettext_lazy("List an order's cards, by serial"),
        parameters=[
            OpenApiParameter(
                "number",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description=gettext_lazy("Order number, e.g. PO250131K7Q2ZD"),
            ),
            *_FILTER_PARAMETERS,
        ],
        responses={200: CardSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class CardTransactionCursorPagination(CursorPagination):
    """Newest first; ``next`` and ``previous`` links carry an opaque cursor."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CardTransactionViewSet(ApiAccess, viewsets.GenericViewSet[CardTransaction]):
    """The movements of one card of the key's company, found by its serial."""

    policy_actions = {"list": Action.ORDER_READ}
    serializer_class = CardTransactionSerializer
    pagination_class = CardTransactionCursorPagination

    def get_queryset(self) -> QuerySet[CardTransaction]:
        card = card_by_serial(self.company_objects(Batch), self.kwargs["serial"])
        if card is None:
            raise Http404
        return card_transactions(card)

    @extend_schema(
        summary=gettext_lazy("List a card's transactions, newest first"),
        parameters=[
            OpenApiParameter(
                "serial",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                pattern="^[0-9]{16}$",
                description=gettext_lazy("The card's 16-digit serial, e.g. 8800000000000011"),
            ),
        ],
        responses={200: CardTransactionSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def register_card_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register(
        r"cards/(?P<serial>[0-9]{16})/transactions",
        CardTransactionViewSet,
        basename="api-card-transaction",
    )
    router.register("cards", CardViewSet, basename="api-card")
    router.register(
        r"orders/(?P<number>[A-Za-z0-9-]+)/cards", OrderCardViewSet, basename="api-order-card"
    )
