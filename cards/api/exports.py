"""Buyer API: the orders of the key's company with their lines, as CSV or XLSX
(``GET /api/v1/orders/export?format=csv|xlsx``), filtered as ``GET /api/v1/orders`` is.

Reading orders (``orders:read`` scope, any role: ``Action.ORDER_READ``); the rows and their
masking are those of the portal's export (``cards.exports``).
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter

from cards import exports
from cards.api.orders import ORDER_FILTER_PARAMETERS, orders_filtered
from cards.models import Order
from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES
from portal.policy import Action


class OrderExportViewSet(ApiAccess, viewsets.ViewSet):
    """The key's company's orders and their lines, as a file."""

    policy_actions = {"list": Action.ORDER_READ}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ``?format=`` names the file here, not a DRF renderer; errors are JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="orders_export",
        summary=gettext_lazy("Export orders with their lines as CSV or XLSX"),
        description=gettext_lazy(
            "The orders GET /api/v1/orders lists for the same filters, newest first, one row "
            "per order line. Recipients' emails and mobiles are masked, as on the order page; "
            "card codes are never included. Identifiers are text and amounts numbers: in the "
            "CSV (UTF-8 with BOM) text is quoted, and text made only of digits ends with a tab "
            "so that spreadsheets keep it exact."
        ),
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(exports.FORMATS),
                description=gettext_lazy("csv (the default) or xlsx"),
            ),
            *ORDER_FILTER_PARAMETERS,
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The orders as CSV.")
            ),
            (200, exports.CONTENT_TYPES["xlsx"]): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The orders as an XLSX workbook.")
            ),
            **ERROR_RESPONSES,
        },
    )
    def list(self, request: Request) -> HttpResponseBase:
        fmt = request.query_params.get("format", "csv").strip().lower()
        if fmt not in exports.FORMATS:
            raise ValidationError(
                {
                    "format": _("Unknown format “%(value)s”; use one of %(values)s.")
                    % {"value": fmt, "values": ", ".join(exports.FORMATS)}
                }
            )
        orders = orders_filtered(self.company_objects(Order), request.query_params)
        filename = exports.order_export_filename(fmt)
        response: HttpResponseBase
        if fmt == "csv":
            response = StreamingHttpResponse(
                exports.order_export_csv(orders), content_type=exports.CONTENT_TYPES["csv"]
            )
            response["Content-Disposition"] = content_disposition_header(True, filename)
        else:
            response = FileResponse(
                exports.order_export_xlsx(orders),
                as_attachment=True,
                filename=filename,
                content_type=exports.CONTENT_TYPES["xlsx"],
            )
        add_never_cache_headers(response)
        return response


def register_order_export_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes (before ``orders``, whose ``orders/{number}`` would
    take "export" for an order number)."""
    router.register("orders/export", OrderExportViewSet, basename="api-order-export")
