"""Buyer API: invoices, pro-forma invoices and credit notes (/api/v1/invoices)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Invoice
from billing.selectors import invoice_filter
from billing.serializers import InvoiceDetailSerializer, InvoiceSummarySerializer
from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES
from portal.policy import Action


def _choice(name: str, value: str, choices: list[str]) -> str:
    value = value.strip()
    if value and value not in choices:
        raise ValidationError(
            {
                name: _("Unknown %(name)s “%(value)s”; use one of %(values)s.")
                % {"name": name, "value": value, "values": ", ".join(choices)}
            }
        )
    return value


class InvoiceViewSet(ApiAccess, viewsets.GenericViewSet[Invoice]):
    """Invoices of the key's company."""

    policy_actions = {"list": Action.INVOICES_READ, "retrieve": Action.INVOICES_READ}
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9-]+"
    serializer_class = InvoiceDetailSerializer

    def get_queryset(self) -> QuerySet[Invoice]:
        return self.company_objects(Invoice).select_related("credited_invoice")

    @extend_schema(
        summary=gettext_lazy("List invoices, pro-forma invoices and credit notes"),
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=Invoice.Kind.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Invoice.Status.values),
            OpenApiParameter(
                "search",
                OpenApiTypes.STR,
                description=gettext_lazy("Part of an invoice or order number."),
            ),
        ],
        responses={200: InvoiceSummarySerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        invoices = invoice_filter(
            self.get_queryset(),
            kind=_choice("kind", params.get("kind", ""), Invoice.Kind.values),
            status=_choice("status", params.get("status", ""), Invoice.Status.values),
            search=params.get("search", ""),
        )
        page = self.paginate_queryset(invoices)
        return self.get_paginated_response(InvoiceSummarySerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy(
            "One invoice, with its lines, totals, balance due and payment reference"
        ),
        parameters=[
            OpenApiParameter(
                "number",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description=gettext_lazy("Invoice number, e.g. INV-2025-000123"),
            )
        ],
        responses={200: InvoiceDetailSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, number: str) -> Response:
        invoice = self.get_object()
        return Response(InvoiceDetailSerializer(invoice).data)
