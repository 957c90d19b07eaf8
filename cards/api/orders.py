"""Buyer API: the catalog and orders (/api/v1/products, /api/v1/orders).

Every query goes through ``portal.api.access``: scoped to the API key's company (another
company's order is a 404) and checked against the policy for the key's scopes and its holder's
current role. The services check the holder's role again themselves.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from cards.models import CardProduct, Order, OrderStatus
from cards.selectors import OrderFilters, catalog_products, orders_search
from cards.serializers import (
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderLineSerializer,
    OrderSummarySerializer,
    ProductSerializer,
    ReasonSerializer,
)
from cards.services.orders import order_create
from cards.services.workflow import (
    order_approve,
    order_cancel,
    order_reject,
    order_submit,
)
from portal.api.access import ApiAccess
from portal.api.authentication import request_api_key, request_company
from portal.api.idempotency import idempotent_response
from portal.api.pagination import ApiPagination
from portal.api.permissions import ANY_KEY
from portal.api.schema import (
    DATE_OR_DATETIME,
    ERROR_RESPONSES,
    IDEMPOTENCY_KEY_OPTIONAL,
    IDEMPOTENCY_KEY_REQUIRED,
    ErrorSerializer,
)
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip


def _acting_user(request: Request) -> User:
    return request_api_key(request).user


class ProductViewSet(ApiAccess, viewsets.ReadOnlyModelViewSet[CardProduct]):
    """The cards on sale."""

    policy_actions = {"list": ANY_KEY, "retrieve": ANY_KEY}
    serializer_class = ProductSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9a-fA-F-]{36}"
    pagination_class = None

    def get_queryset(self) -> QuerySet[CardProduct]:
        return catalog_products(request_company(self.request))

    @extend_schema(
        summary=gettext_lazy("List the products on sale"),
        responses={200: ProductSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary=gettext_lazy("One product"),
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: ProductSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


def _not_a_date(raw: str) -> str:
    return _(
        "“%(value)s” is not a date; write 2025-01-31, or a time such as 2025-01-31T09:30:00+08:00."
    ) % {"value": raw}


def _date_or_datetime(name: str, raw: str) -> datetime.date | datetime.datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw) or parse_date(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({name: _not_a_date(raw)})
    if isinstance(value, datetime.datetime):
        try:
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
            # The database takes offsets up to 15:59 only: compare in UTC.
            value = value.astimezone(datetime.UTC)
        except (OverflowError, ValueError):
            value = None
    if value is None:
        raise ValidationError({name: _not_a_date(raw)})
    return value


_NUMBER_PARAMETER = OpenApiParameter(
    "number",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=gettext_lazy("Order number, e.g. PO250131K7Q2ZD"),
)


# The list's filters, shared by the list and its export (cards/api/exports.py).
ORDER_FILTER_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=OrderStatus.values),
    OpenApiParameter(
        "created_after",
        DATE_OR_DATETIME,
        description=gettext_lazy("Orders created on or after this date (Asia/Shanghai) or time."),
    ),
    OpenApiParameter(
        "created_before",
        DATE_OR_DATETIME,
        description=gettext_lazy(
            "Orders created on or before this date (Asia/Shanghai), or before this time."
        ),
    ),
    OpenApiParameter(
        "search",
        OpenApiTypes.STR,
        description=gettext_lazy("Part of an order number, your reference or a recipient's name."),
    ),
]


def orders_filtered(orders: QuerySet[Order], params: Any) -> QuerySet[Order]:
    """``orders`` filtered by the list's query parameters; a bad value is a 400 naming it."""
    status_value = params.get("status", "").strip()
    if status_value and status_value not in OrderStatus.values:
        raise ValidationError(
            {
                "status": _("Unknown status “%(value)s”; use one of %(values)s.")
                % {"value": status_value, "values": ", ".join(OrderStatus.values)}
            }
        )
    after = _date_or_datetime("created_after", params.get("created_after", ""))
    before = _date_or_datetime("created_before", params.get("created_before", ""))
    orders = orders_search(
        orders,
        OrderFilters(
            query=params.get("search", ""),
            status=status_value,
            created_from=after if not isinstance(after, datetime.datetime) else None,
            created_to=before if not isinstance(before, datetime.datetime) else None,
        ),
    )
    if isinstance(after, datetime.datetime):
        orders = orders.filter(created_at__gte=after)
    if isinstance(before, datetime.datetime):
        orders = orders.filter(created_at__lt=before)
    return orders


class OrderViewSet(ApiAccess, viewsets.GenericViewSet[Order]):
    """Orders of the key's company."""

    policy_actions = {
        "list": Action.ORDER_READ,
        "retrieve": Action.ORDER_READ,
        "lines": Action.ORDER_READ,
        "create": Action.ORDER_CREATE,
        "submit": Action.ORDER_SUBMIT,
        "cancel": Action.ORDER_CANCEL,
        "approve": Action.ORDER_APPROVE,
        "reject": Action.ORDER_APPROVE,
    }
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9-]+"
    serializer_class = OrderDetailSerializer

    def get_queryset(self) -> QuerySet[Order]:
        return self.company_objects(Order).select_related(
            "created_by", "approved_by", "invoice", "proforma", "registration"
        )

    def _detail(self, order: Order, *, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=order.pk)
        return Response(OrderDetailSerializer(fresh).data, status=status_code)

    @extend_schema(
        summary=gettext_lazy("List orders"),
        parameters=ORDER_FILTER_PARAMETERS,
        responses={200: OrderSummarySerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(orders_filtered(self.get_queryset(), request.query_params))
        return self.get_paginated_response(OrderSummarySerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("One order, with its lines, totals, invoice and payment reference"),
        parameters=[_NUMBER_PARAMETER],
        responses={200: OrderDetailSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, number: str) -> Response:
        return Response(OrderDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary=gettext_lazy("All lines of an order, page by page"),
        parameters=[_NUMBER_PARAMETER],
        responses={200: OrderLineSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"])
    def lines(self, request: Request, number: str) -> Response:
        order = self.get_object()
        paginator = ApiPagination()
        page = paginator.paginate_queryset(
            order.lines.select_related("product").order_by("position"), request, view=self
        )
        return paginator.get_paginated_response(OrderLineSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("Create an order (and submit it with submit: true)"),
        parameters=[IDEMPOTENCY_KEY_REQUIRED],
        request=OrderCreateSerializer,
        responses={
            201: OrderDetailSerializer,
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy("The Idempotency-Key was used with another request."),
            ),
            **ERROR_RESPONSES,
        },
    )
    def create(self, request: Request) -> Response:
        key = request_api_key(request)

        def handler() -> Response:
            serializer = OrderCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            actor = _acting_user(request)
            ip = client_ip(request)
            order = order_create(
                company=key.company,
                actor=actor,
                lines=data["lines"],
                payment_method=data["payment_method"],
                delivery_method=data["delivery_method"],
                client_reference=data.get("client_reference")
                or request.headers.get("Idempotency-Key", "").strip(),
                note=data["note"],
                registration=data.get("registration"),
                api_key=key,
                ip=ip,
            )
            if data["submit"]:
                order = self._run(lambda: order_submit(order=order, actor=actor, ip=ip))
            return self._detail(order, status_code=status.HTTP_201_CREATED)

        return idempotent_response(
            request, company=key.company, endpoint="orders.create", handler=handler
        )

    def _run(self, step: Callable[[], Order]) -> Order:
        # Refusals (state conflicts: 409, others: 400) keep their code in the exception handler.
        return step()

    def _transition(self, request: Request, name: str, step: Callable[[Order], Order]) -> Response:
        order = self.get_object()
        return idempotent_response(
            request,
            company=request_company(request),
            endpoint=f"orders/{order.number}/{name}",
            handler=lambda: self._detail(self._run(lambda: step(order))),
            required=False,
        )

    @extend_schema(
        summary=gettext_lazy("Submit a draft"),
        parameters=[_NUMBER_PARAMETER, IDEMPOTENCY_KEY_OPTIONAL],
        request=None,
        responses={200: OrderDetailSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, number: str) -> Response:
        actor, ip = _acting_user(request), client_ip(request)
        return self._transition(
            request, "submit", lambda order: order_submit(order=order, actor=actor, ip=ip)
        )

    @extend_schema(
        summary=gettext_lazy("Approve an order waiting for approval (never your own)"),
        parameters=[_NUMBER_PARAMETER, IDEMPOTENCY_KEY_OPTIONAL],
        request=None,
        responses={200: OrderDetailSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, number: str) -> Response:
        actor, ip = _acting_user(request), client_ip(request)
        return self._transition(
            request, "approve", lambda order: order_approve(order=order, actor=actor, ip=ip)
        )

    @extend_schema(
        summary=gettext_lazy("Reject an order waiting for approval"),
        parameters=[_NUMBER_PARAMETER, IDEMPOTENCY_KEY_OPTIONAL],
        request=ReasonSerializer,
        responses={200: OrderDetailSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, number: str) -> Response:
        reason = self._reason(request)
        actor, ip = _acting_user(request), client_ip(request)
        return self._transition(
            request,
            "reject",
            lambda order: order_reject(order=order, actor=actor, reason=reason, ip=ip),
        )

    @extend_schema(
        summary=gettext_lazy("Cancel an order before card generation starts"),
        parameters=[_NUMBER_PARAMETER, IDEMPOTENCY_KEY_OPTIONAL],
        request=ReasonSerializer,
        responses={200: OrderDetailSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, number: str) -> Response:
        reason = self._reason(request)
        actor, ip = _acting_user(request), client_ip(request)
        return self._transition(
            request,
            "cancel",
            lambda order: order_cancel(order=order, actor=actor, reason=reason, ip=ip),
        )

    def _reason(self, request: Request) -> str:
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return str(serializer.validated_data["reason"])

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return OrderDetailSerializer
