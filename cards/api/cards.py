"""Buyer API: issued cards (/api/v1/cards, /api/v1/orders/{number}/cards), without secrets.

Scoped to the API key's company through ``portal.api.access`` (another company's order is a
404) and read with the ``orders:read`` scope. Pages are cursors over the serial: no count over a
million rows, and a page far into a large order costs what the first one does.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
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

from cards.models import Batch, Card, CardStatus, Order
from cards.selectors import (
    CardFilters,
    SerialSearchError,
    attach_batches,
    cards_of_batches,
    serial_range,
)
from cards.serializers import CardSerializer
from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES
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
]


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
        return CardFilters(status=status_value, serial=serial)

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


def register_card_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register("cards", CardViewSet, basename="api-card")
    router.register(
        r"orders/(?P<number>[A-Za-z0-9-]+)/cards", OrderCardViewSet, basename="api-order-card"
    )
