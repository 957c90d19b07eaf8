"""Buyer API: invoices, pro-forma invoices and credit notes (/api/v1/invoices), and each one's
PDF (/api/v1/invoices/{number}/pdf, in the request's language, with its SHA-256 in a header)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Invoice
from billing.pdf import render_pdf
from billing.selectors import invoice_document, invoice_filter
from billing.serializers import InvoiceDetailSerializer, InvoiceSummarySerializer
from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES, SHA256_HEADER
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


_NUMBER_PARAMETER = OpenApiParameter(
    "number",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=gettext_lazy("Invoice number, e.g. INV-2025-000123"),
)


class InvoiceViewSet(ApiAccess, viewsets.GenericViewSet[Invoice]):
    """Invoices of the key's company."""

    policy_actions = {
        "list": Action.INVOICES_READ,
        "retrieve": Action.INVOICES_READ,
        "pdf": Action.INVOICES_READ,
    }
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9-]+"
    serializer_class = InvoiceDetailSerializer

    def get_queryset(self) -> QuerySet[Invoice]:
        return self.company_objects(Invoice).select_related("credited_invoice")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # The PDF is written as is, whatever Accept says; its errors are JSON.
        if self.action == "pdf":
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

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
        parameters=[_NUMBER_PARAMETER],
        responses={200: InvoiceDetailSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, number: str) -> Response:
        invoice = self.get_object()
        return Response(InvoiceDetailSerializer(invoice).data)

    @extend_schema(
        summary=gettext_lazy("Download an invoice as PDF"),
        description=gettext_lazy(
            "The invoice, pro-forma invoice or credit note as a PDF document, in the language of "
            "the request (Accept-Language). X-Content-SHA256 carries the file's checksum."
        ),
        parameters=[_NUMBER_PARAMETER, SHA256_HEADER],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The PDF document.")
            ),
            **ERROR_RESPONSES,
        },
    )
    @action(detail=True, methods=["get"], url_path="pdf")
    def pdf(self, request: Request, number: str) -> HttpResponse:
        document = invoice_document(self.get_object(), documents=self.company_objects(Invoice))
        content = render_pdf("billing/invoice_pdf.html", {"doc": document})
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{document.invoice.number}.pdf"'
        response["X-Content-SHA256"] = hashlib.sha256(content).hexdigest()
        add_never_cache_headers(response)
        return response
