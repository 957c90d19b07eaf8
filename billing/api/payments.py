"""API routes for payments: /payments (list) and /payments/{id} (one, with its allocations).

Read-only, the key's company only (payments not yet identified as the company's are not shown),
``invoices:read`` scope, and only for roles that may see payments (``portal.policy``). ``{id}``
is the payment's public id (a UUID). The payer's account number is shown by its last four
characters only.
"""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from billing.models import Allocation, Payment
from billing.serializers import money_field
from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES
from portal.policy import Action


class AllocationSerializer(serializers.ModelSerializer[Allocation]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    method_label = serializers.CharField(source="get_method_display", read_only=True)
    invoice_number = serializers.CharField(
        source="invoice.number", read_only=True, allow_null=True, default=None
    )
    amount = money_field(help_text=gettext_lazy("Negative for a reversal."))
    reverses = serializers.UUIDField(
        source="reverses.public_id", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Allocation
        fields = [
            "id",
            "kind",
            "kind_label",
            "method",
            "method_label",
            "invoice_number",
            "amount",
            "reverses",
            "created_at",
        ]


class PaymentSerializer(serializers.ModelSerializer[Payment]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    amount = money_field()
    allocated_amount = money_field()
    unallocated = money_field(
        help_text=gettext_lazy("Not yet applied to an invoice or kept as credit.")
    )
    payer_account_last4 = serializers.SerializerMethodField()
    allocations = AllocationSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "bank_reference",
            "received_on",
            "payer_name",
            "payer_account_last4",
            "amount",
            "allocated_amount",
            "unallocated",
            "status",
            "status_label",
            "remittance",
            "allocations",
        ]

    def get_payer_account_last4(self, obj: Payment) -> str:
        return obj.payer_account[-4:]


def _date_param(request: Request, name: str) -> datetime.date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            {name: _("“%(value)s” is not a date; write it as 2026-01-31.") % {"value": raw}}
        ) from None


class PaymentViewSet(ApiAccess, viewsets.GenericViewSet[Payment]):
    """Payments received from the key's company, with how each was allocated."""

    policy_actions = {"list": Action.PAYMENTS_READ, "retrieve": Action.PAYMENTS_READ}
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"
    serializer_class = PaymentSerializer

    def get_queryset(self) -> QuerySet[Payment]:
        allocations = Allocation.objects.select_related("invoice", "reverses").order_by(
            "created_at", "id"
        )
        return (
            self.company_objects(Payment)
            .prefetch_related(Prefetch("allocations", queryset=allocations))
            .order_by("-received_on", "-id")
        )

    @extend_schema(
        summary=gettext_lazy("List payments received, with their allocations"),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Payment.Status.values),
            OpenApiParameter(
                "received_from",
                OpenApiTypes.DATE,
                description=gettext_lazy("Received on or after this date."),
            ),
            OpenApiParameter(
                "received_to",
                OpenApiTypes.DATE,
                description=gettext_lazy("Received on or before this date."),
            ),
        ],
        responses={200: PaymentSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        payments = self.get_queryset()
        status = request.query_params.get("status", "").strip()
        if status:
            if status not in Payment.Status.values:
                raise ValidationError(
                    {
                        "status": _("Unknown status “%(value)s”; use one of %(values)s.")
                        % {"value": status, "values": ", ".join(Payment.Status.values)}
                    }
                )
            payments = payments.filter(status=status)
        start = _date_param(request, "received_from")
        end = _date_param(request, "received_to")
        if start:
            payments = payments.filter(received_on__gte=start)
        if end:
            payments = payments.filter(received_on__lte=end)
        page = self.paginate_queryset(payments)
        return self.get_paginated_response(PaymentSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("One payment, with its allocations"),
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description=gettext_lazy("The payment's id."),
            )
        ],
        responses={200: PaymentSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(PaymentSerializer(self.get_object()).data)


def register_payment_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register("payments", PaymentViewSet, basename="api-payment")
