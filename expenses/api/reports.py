"""API routes for expense reports: /expense-reports.

``POST /expense-reports`` takes the report as a file (multipart, ``file``) or as JSON
``{"lines": [...]}``, with an ``Idempotency-Key``: a small report is checked (and matched) at
once (201), a large one by a worker (202, poll ``poll_url``). The same key with the same body
answers the same report again (``Idempotent-Replayed: true``); with another body, 422.
``GET /expense-reports/{id}/lines`` lists what matching found, by state. Every look-up is
scoped to the key's company: another company's report is a 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from expenses.api.report_serializers import (
    ExpenseLineSerializer,
    ExpenseReportDetailSerializer,
    ExpenseReportFileSerializer,
    ExpenseReportLinesSerializer,
    ExpenseReportSerializer,
)
from expenses.intake_selectors import report_lines, reports_for_list
from expenses.models import ExpenseReport, LineState, ReportStatus
from expenses.services.intake import expense_report_error_file, expense_report_receive
from portal.api.access import ApiAccess
from portal.api.authentication import request_api_key
from portal.api.exceptions import UnprocessableRequest
from portal.api.idempotency import REPLAYED_HEADER, idempotency_key
from portal.api.negotiation import JsonOnlyNegotiation
from portal.api.parsers import DecimalJSONParser
from portal.api.rate_limits import UPLOAD
from portal.api.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_REQUIRED, ErrorSerializer
from portal.policy import Action
from portal.services.audit import client_ip

ERROR_FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_ID_PARAMETER = OpenApiParameter(
    "public_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description=gettext_lazy("The report's id, as returned when it was sent."),
)


def _choice(request: Request, name: str, values: Iterable[str]) -> str:
    value = request.query_params.get(name, "").strip()
    allowed = list(values)
    if value and value not in allowed:
        raise ValidationError(
            {
                name: _("Unknown value “%(value)s”; use one of %(values)s.")
                % {"value": value, "values": ", ".join(allowed)}
            }
        )
    return value


class ExpenseReportViewSet(ApiAccess, viewsets.GenericViewSet[ExpenseReport]):
    """Expense reports of the key's company."""

    policy_actions = {
        "create": Action.EXPENSES_UPLOAD,
        "list": Action.EXPENSES_READ,
        "retrieve": Action.EXPENSES_READ,
        "lines": Action.EXPENSES_READ,
        "errors": Action.EXPENSES_READ,
    }
    rate_limit_classes = {"create": UPLOAD}
    content_negotiation_class = JsonOnlyNegotiation
    lookup_field = "public_id"
    lookup_value_regex = r"[0-9a-fA-F-]{36}"
    serializer_class = ExpenseReportSerializer
    # A file (multipart) or JSON lines; DRF asks for the parsers before the action is known.
    parser_classes = [DecimalJSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[ExpenseReport]:
        return self.company_objects(ExpenseReport)

    def get_object(self) -> ExpenseReport:
        try:
            return super().get_object()
        except (DjangoValidationError, ValueError) as exc:
            raise NotFound() from exc

    @extend_schema(
        summary=gettext_lazy("Send an expense report: a file, or JSON lines"),
        parameters=[IDEMPOTENCY_KEY_REQUIRED],
        request={
            "multipart/form-data": ExpenseReportFileSerializer,
            "application/json": ExpenseReportLinesSerializer,
        },
        responses={
            201: OpenApiResponse(
                ExpenseReportDetailSerializer,
                description=gettext_lazy(
                    "Checked at once: its errors, or its lines written and matched."
                ),
            ),
            202: OpenApiResponse(
                ExpenseReportDetailSerializer,
                description=gettext_lazy(
                    "A large report, checked and matched by a worker: poll ``poll_url`` until "
                    "``progress.finished``."
                ),
            ),
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy("The Idempotency-Key was used with another report."),
            ),
            **ERROR_RESPONSES,
        },
    )
    def create(self, request: Request) -> Response:
        key = request_api_key(request)
        chosen = idempotency_key(request, required=True)
        started = timezone.now()
        upload: Any = None
        lines: Any = None
        if request.content_type.startswith("multipart/"):
            serializer: Any = ExpenseReportFileSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            upload = serializer.validated_data["file"]
        else:
            serializer = ExpenseReportLinesSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            lines = serializer.validated_data["lines"]
        try:
            report = expense_report_receive(
                company=key.company,
                user=key.user,
                upload=upload,
                lines=lines,
                via_key=key,
                idempotency_key=chosen,
                ip=client_ip(request),
            )
        except DjangoValidationError as exc:
            if getattr(exc, "code", None) == "idempotency_key_reused":
                raise UnprocessableRequest(" ".join(exc.messages), code=exc.code) from exc
            raise
        report = ExpenseReport.objects.get(pk=report.pk)
        code = status.HTTP_201_CREATED if report.finished else status.HTTP_202_ACCEPTED
        headers = {"Location": ExpenseReportSerializer().get_poll_url(report)}
        if report.created_at < started:
            headers[REPLAYED_HEADER] = "true"
        return Response(ExpenseReportDetailSerializer(report).data, status=code, headers=headers)

    @extend_schema(
        summary=gettext_lazy("List the company's expense reports, the latest first"),
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=ReportStatus.values,
                description=gettext_lazy("Only reports in this status."),
            )
        ],
        responses={200: ExpenseReportSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        reports = reports_for_list(self.get_queryset())
        wanted = _choice(request, "status", ReportStatus.values)
        if wanted:
            reports = reports.filter(status=wanted)
        page = self.paginate_queryset(reports)
        return self.get_paginated_response(ExpenseReportSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("An expense report's status, progress and result"),
        parameters=[_ID_PARAMETER],
        responses={200: ExpenseReportDetailSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(ExpenseReportDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary=gettext_lazy("An expense report's claim lines and what matching found"),
        parameters=[
            _ID_PARAMETER,
            OpenApiParameter(
                "state",
                OpenApiTypes.STR,
                enum=LineState.values,
                description=gettext_lazy("Only the lines in this state."),
            ),
        ],
        responses={200: ExpenseLineSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"])
    def lines(self, request: Request, public_id: str) -> Response:
        report = self.get_object()
        wanted = _choice(request, "state", LineState.values)
        page = self.paginate_queryset(cast(Any, report_lines(report, state=wanted)))
        return self.get_paginated_response(ExpenseLineSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("The error file: the report's rows with an error column"),
        parameters=[
            _ID_PARAMETER,
            OpenApiParameter("format", OpenApiTypes.STR, enum=[*ERROR_FILE_TYPES], default="csv"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiTypes.BINARY,
            **ERROR_RESPONSES,
        },
    )
    @action(detail=True, methods=["get"])
    def errors(self, request: Request, public_id: str) -> HttpResponse:
        fmt = request.query_params.get("format", "csv").strip().lower() or "csv"
        if fmt not in ERROR_FILE_TYPES:
            raise NotFound()
        report = self.get_object()
        if report.status != ReportStatus.INVALID or not report.error_count:
            raise NotFound()
        content = expense_report_error_file(report, fmt)
        response = HttpResponse(content, content_type=ERROR_FILE_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="errors-{report.public_id}.{fmt}"'
        return response


def register_report_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register("expense-reports", ExpenseReportViewSet, basename="api-expense-report")
