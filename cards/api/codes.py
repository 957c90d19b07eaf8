"""Buyer API: export an order's card codes (``POST /api/v1/orders/{number}/codes``).

Only with a key holding the ``codes:export`` scope, of a member whose role may download codes
(owners and finance, ``portal.policy``). The client
chooses the archive password and sends it in the JSON body; the answer is the encrypted ZIP
itself (``application/zip``), so no password ever travels in a response, a header or a URL.
Every export counts against the order's download limit and is recorded (through the API) in the
order's download history and the audit trail. See ``cards.services.code_export``.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter

from cards.models import Order
from cards.services.code_export import (
    archive_filename,
    code_archive_file,
    code_export_start,
)
from portal.api.access import ApiAccess
from portal.api.authentication import request_api_key
from portal.api.rate_limits import CODES
from portal.api.schema import ERROR_RESPONSES
from portal.policy import Action
from portal.services.audit import client_ip


class CodeExportSerializer(serializers.Serializer[Any]):
    password = serializers.CharField(
        min_length=12,
        max_length=128,
        trim_whitespace=False,
        write_only=True,
        help_text=gettext_lazy(
            "The password to encrypt the archive with (AES-256), chosen by you: 12 to 128 "
            "printable ASCII characters without spaces. It is not stored."
        ),
    )


class OrderCodeExportViewSet(ApiAccess, viewsets.ViewSet):
    """The card codes of one order of the key's company, as an encrypted archive."""

    policy_actions = {"create": Action.CODES_DOWNLOAD}
    rate_limit_classes = {"create": CODES}

    @extend_schema(
        operation_id="orders_codes_export",
        summary=gettext_lazy("Export an order's card codes as an encrypted ZIP archive"),
        description=gettext_lazy(
            "Needs the codes:export scope, on a key of an owner or finance member. The order's "
            "cards must be ready and its delivery method “file”. The response is a ZIP archive "
            "encrypted with AES-256 under the password you send, holding the codes as CSV "
            "(UTF-8 with BOM) and XLSX. Each call counts against the order's download limit."
        ),
        parameters=[
            OpenApiParameter(
                "number",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description=gettext_lazy("Order number, e.g. PO250131K7Q2ZD"),
            )
        ],
        request=CodeExportSerializer,
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The encrypted archive.")
            ),
            **ERROR_RESPONSES,
        },
    )
    @sensitive_variables()
    def create(self, request: Request, number: str) -> FileResponse:
        key = request_api_key(request)
        order = self.company_object_or_404(Order, number=number)
        serializer = CodeExportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        download, password = code_export_start(
            order=order,
            user=key.user,
            ip=client_ip(request),
            via_api=True,
            password=serializer.validated_data["password"],
        )
        response = FileResponse(
            code_archive_file(download=download, password=password),
            as_attachment=True,
            filename=archive_filename(order),
            content_type="application/zip",
        )
        response.block_size = 1 << 16
        add_never_cache_headers(response)
        return response


def register_code_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register(
        r"orders/(?P<number>[A-Za-z0-9-]+)/codes",
        OrderCodeExportViewSet,
        basename="api-order-codes",
    )
