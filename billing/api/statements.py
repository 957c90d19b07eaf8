"""API routes for statements: /statements (list), /statements/{id} (one, with its files and
summary) and /statements/{id}/download?format=pdf|csv|xlsx (the stored bytes). The key's
company only; ``invoices:read`` scope, and only for roles that may see statements. ``{id}`` is
the statement's public id (a UUID)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from billing.downloads import STATEMENT_CONTENT_TYPES, statement_file_response
from billing.models import Statement, StatementFile
from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES, SHA256_HEADER
from portal.policy import Action


class StatementFileSerializer(serializers.ModelSerializer[StatementFile]):
    class Meta:
        model = StatementFile
        fields = ["format", "size", "sha256"]


class StatementSerializer(serializers.ModelSerializer[Statement]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    files = StatementFileSerializer(many=True, read_only=True)

    class Meta:
        model = Statement
        fields = [
            "id",
            "number",
            "period_start",
            "period_end",
            "version",
            "trigger",
            "status",
            "opening_balance",
            "closing_balance",
            "issued_at",
            "files",
        ]


class StatementDetailSerializer(StatementSerializer):
    summary = serializers.JSONField(read_only=True)

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "summary"]


class StatementViewSet(ApiAccess, viewsets.GenericViewSet[Statement]):
    """Statements of account of the key's company."""

    policy_actions = {
        "list": Action.STATEMENTS_READ,
        "retrieve": Action.STATEMENTS_READ,
        "download": Action.STATEMENTS_READ,
    }
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"
    serializer_class = StatementSerializer

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ``?format=`` names the statement file here, not a DRF renderer; answers (and errors)
        # other than the file are JSON.
        if self.action == "download":
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    def get_queryset(self) -> QuerySet[Statement]:
        return self.company_objects(Statement).prefetch_related("files")

    @extend_schema(
        summary=gettext_lazy("List statements of account, the latest period first"),
        responses={200: StatementSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(StatementSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("One statement: balances, totals, aging and card activity"),
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: StatementDetailSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(StatementDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary=gettext_lazy("Download a statement file as stored (PDF, CSV or XLSX)"),
        parameters=[
            OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=StatementFile.Format.values,
                default=StatementFile.Format.PDF,
                description=gettext_lazy("pdf (the default), csv or xlsx"),
            ),
            SHA256_HEADER,
        ],
        responses={
            **{
                (200, content_type.split(";")[0]): OpenApiResponse(
                    OpenApiTypes.BINARY,
                    description=gettext_lazy("The file; X-Content-SHA256 carries its checksum."),
                )
                for content_type in STATEMENT_CONTENT_TYPES.values()
            },
            **ERROR_RESPONSES,
        },
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request: Request, id: str) -> FileResponse:
        fmt = request.query_params.get("format", StatementFile.Format.PDF).strip().lower()
        if fmt not in StatementFile.Format.values:
            raise ValidationError(
                {
                    "format": _("Unknown format “%(value)s”; use one of %(values)s.")
                    % {"value": fmt, "values": ", ".join(StatementFile.Format.values)}
                }
            )
        return statement_file_response(self.get_object(), fmt)


def register_statement_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register("statements", StatementViewSet, basename="api-statement")
