"""API routes for reconciliation periods and resolving claim lines:

- ``GET /expense-periods``: the key's company's periods with their counts;
- ``GET /expense-periods/{month}``: one period, its figures and filed reports (``YYYY-MM``);
- ``GET /expense-periods/{month}/exceptions``: its claim lines (open exceptions unless the
  filters say otherwise), each with its evidence;
- ``POST /expense-periods/{month}/close`` and ``/reopen``: close (finance and owners) and
  re-open with a reason (owners);
- ``POST /expense-lines/{id}/resolution``: accept, reject, link, unlink or re-open one line.

Scopes ``expenses:read`` and ``expenses:write``; closing and re-opening also need the role
through the key's holder (``portal.policy``). Every look-up is scoped to the key's company:
another company's period or line is a 404."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from expenses.exception_queue import (
    QueueFilters,
    parse_month,
    period_reports,
    periods_of,
    queue_lines,
    spend_by_public_id,
)
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    LineState,
    PeriodReport,
    ReconciliationPeriod,
)
from expenses.services.closing import period_close, period_reopen
from expenses.services.figures import period_figures
from expenses.services.resolution import (
    line_accept,
    line_link,
    line_reject,
    line_reopen,
    line_unlink,
)
from portal.api.access import ApiAccess
from portal.api.authentication import request_api_key
from portal.api.schema import ERROR_RESPONSES, text_enum
from portal.policy import Action
from portal.services.audit import client_ip

RESOLUTION_ACTIONS = ["accept", "reject", "link", "unlink", "reopen"]
_MONTH = OpenApiParameter(
    "month",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=gettext_lazy("The period's month, YYYY-MM."),
    pattern=r"^\d{4}-\d{2}$",
)


class PeriodReportSerializer(serializers.ModelSerializer[PeriodReport]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    format = serializers.CharField(source="file_format", read_only=True)
    sha256 = serializers.CharField(source="file_sha256", read_only=True)

    class Meta:
        model = PeriodReport
        fields = ["id", "version", "format", "sha256", "created_at"]


class PeriodSerializer(serializers.ModelSerializer[ReconciliationPeriod]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    month = serializers.SerializerMethodField()
    lines = serializers.IntegerField(source="line_count", read_only=True, default=0)
    amount = serializers.DecimalField(
        source="line_amount", max_digits=14, decimal_places=2, read_only=True, default=None
    )
    open_exceptions = serializers.IntegerField(source="open_count", read_only=True, default=0)

    class Meta:
        model = ReconciliationPeriod
        fields = ["id", "month", "status", "closed_at", "lines", "amount", "open_exceptions"]

    def get_month(self, period: ReconciliationPeriod) -> str:
        return f"{period.month:%Y-%m}"


class PeriodDetailSerializer(PeriodSerializer):
    figures = serializers.SerializerMethodField()
    reports = serializers.SerializerMethodField()

    class Meta(PeriodSerializer.Meta):
        fields = [*PeriodSerializer.Meta.fields, "figures", "reports"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_figures(self, period: ReconciliationPeriod) -> dict[str, Any]:
        return period_figures(period)

    @extend_schema_field(PeriodReportSerializer(many=True))
    def get_reports(self, period: ReconciliationPeriod) -> list[dict[str, Any]]:
        return list(PeriodReportSerializer(period_reports(period), many=True).data)


class MatchSerializer(serializers.ModelSerializer[ExpenseMatch]):
    transaction = serializers.UUIDField(source="transaction.public_id", read_only=True)
    at = serializers.DateTimeField(source="transaction.created_at", read_only=True)
    spent = serializers.SerializerMethodField()
    merchant_reference = serializers.CharField(
        source="transaction.merchant_reference", read_only=True
    )

    class Meta:
        model = ExpenseMatch
        fields = ["transaction", "at", "spent", "merchant_reference", "amount", "manual"]

    def get_spent(self, match: ExpenseMatch) -> str:
        return str(-match.transaction.amount)


class LineSerializer(serializers.ModelSerializer[ExpenseLine]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    report = serializers.UUIDField(source="report.public_id", read_only=True)
    row = serializers.IntegerField(source="row_number", read_only=True)
    duplicate_of = serializers.SerializerMethodField()
    matches = MatchSerializer(many=True, read_only=True)
    resolved_by = serializers.SerializerMethodField()

    class Meta:
        model = ExpenseLine
        fields = [
            "id",
            "report",
            "report_number",
            "line_number",
            "row",
            "employee_id",
            "employee_name",
            "expense_date",
            "amount",
            "cost_center",
            "category",
            "fapiao_number",
            "merchant_reference",
            "card_serial",
            "card_last4",
            "state",
            "evidence",
            "matched_amount",
            "difference",
            "duplicate_of",
            "matches",
            "resolution",
            "resolution_note",
            "resolved_by",
            "resolved_at",
        ]

    def get_duplicate_of(self, line: ExpenseLine) -> str | None:
        original = line.duplicate_of
        return str(original.public_id) if original is not None else None

    def get_resolved_by(self, line: ExpenseLine) -> str | None:
        return line.resolved_by.email if line.resolved_by is not None else None


class ResolutionSerializer(serializers.Serializer[Any]):
    action = text_enum(RESOLUTION_ACTIONS, help_text=gettext_lazy("What to do with the line."))
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        default="",
        help_text=gettext_lazy("Why; required to accept, reject or link."),
    )
    transaction = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("The card transaction's id, to link or unlink."),
    )

    def validate_action(self, value: str) -> str:
        if value not in RESOLUTION_ACTIONS:
            raise ValidationError(
                _("Unknown action “%(value)s”; use one of %(values)s.")
                % {"value": value, "values": ", ".join(RESOLUTION_ACTIONS)},
                code="invalid_choice",
            )
        return value


class ReopenSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, help_text=gettext_lazy("Why (audited)."))


class QueueQuerySerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(
        choices=[*LineState.values, "all"],
        required=False,
        help_text=gettext_lazy("A result, or all; every exception when left out."),
    )
    resolution = serializers.ChoiceField(
        choices=["open", "accepted", "rejected", "any"], required=False, default="open"
    )
    report = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    employee = serializers.CharField(required=False, default="", allow_blank=True, max_length=100)
    cost_center = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)


class ExpensePeriodViewSet(ApiAccess, viewsets.GenericViewSet[ReconciliationPeriod]):
    """Reconciliation periods of the key's company."""

    policy_actions = {
        "list": Action.EXPENSES_READ,
        "retrieve": Action.EXPENSES_READ,
        "exceptions": Action.EXPENSES_READ,
        "close": Action.EXPENSES_CLOSE,
        "reopen": Action.EXPENSES_REOPEN,
    }
    lookup_field = "month"
    lookup_value_regex = r"\d{4}-\d{2}"
    serializer_class = PeriodSerializer

    def get_queryset(self) -> QuerySet[ReconciliationPeriod]:
        return periods_of(self.company_objects(ReconciliationPeriod))

    def _period(self, month: str) -> ReconciliationPeriod:
        first = parse_month(month)
        if first is None:
            raise Http404
        return self.company_object_or_404(
            ReconciliationPeriod.objects.select_related("company"), month=first
        )

    def _annotated(self, period: ReconciliationPeriod) -> ReconciliationPeriod:
        return periods_of(ReconciliationPeriod.objects.filter(pk=period.pk)).get()

    @extend_schema(
        summary=gettext_lazy("List reconciliation periods, the latest first"),
        responses={200: PeriodSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PeriodSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("One period: its figures and the reconciliation reports filed"),
        parameters=[_MONTH],
        responses={200: PeriodDetailSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, month: str) -> Response:
        period = self._period(month)
        return Response(PeriodDetailSerializer(self._annotated(period)).data)

    @extend_schema(
        summary=gettext_lazy("A period's claim lines: its open exceptions unless filtered"),
        parameters=[_MONTH, QueueQuerySerializer],
        responses={200: LineSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"])
    def exceptions(self, request: Request, month: str) -> Response:
        period = self._period(month)
        query = QueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        filters = QueueFilters(
            state=data.get("state", ""),
            resolution="" if data["resolution"] == "any" else data["resolution"],
            report=data["report"].strip(),
            employee=data["employee"].strip(),
            cost_center=data["cost_center"].strip(),
        )
        page = self.paginate_queryset(queue_lines(period, filters))  # type: ignore[arg-type]
        return self.get_paginated_response(
            LineSerializer(page, many=True).data  # type: ignore[arg-type]
        )

    @extend_schema(
        summary=gettext_lazy("Close a period and file its reconciliation report"),
        description=gettext_lazy(
            "Refused (409, code period_not_ready) while claim lines are open exceptions or "
            "reports are still being checked or matched; the message says how many."
        ),
        parameters=[_MONTH],
        request=None,
        responses={200: PeriodDetailSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, month: str) -> Response:
        period = self._period(month)
        key = request_api_key(request)
        period_close(period=period, user=key.user, ip=client_ip(request))
        return Response(PeriodDetailSerializer(self._annotated(period)).data)

    @extend_schema(
        summary=gettext_lazy("Re-open a closed period, with a reason (owners)"),
        parameters=[_MONTH],
        request=ReopenSerializer,
        responses={200: PeriodDetailSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, month: str) -> Response:
        period = self._period(month)
        body = ReopenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = request_api_key(request)
        period_reopen(
            period=period,
            user=key.user,
            reason=body.validated_data["reason"],
            ip=client_ip(request),
        )
        return Response(PeriodDetailSerializer(self._annotated(period)).data)


class ExpenseLineViewSet(ApiAccess, viewsets.GenericViewSet[ExpenseLine]):
    """Claim lines of the key's company."""

    policy_actions = {"resolution": Action.EXPENSES_RESOLVE}
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9a-fA-F-]{36}"
    serializer_class = LineSerializer

    def get_queryset(self) -> QuerySet[ExpenseLine]:
        return self.company_objects(ExpenseLine).select_related(
            "report", "company", "resolved_by", "duplicate_of"
        )

    def _line(self, id: str) -> ExpenseLine:
        try:
            return self.get_queryset().get(public_id=uuid.UUID(id))
        except (ExpenseLine.DoesNotExist, ValueError) as exc:
            raise Http404 from exc

    @extend_schema(
        summary=gettext_lazy("Accept, reject, link, unlink or re-open one claim line"),
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        request=ResolutionSerializer,
        responses={200: LineSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def resolution(self, request: Request, id: str) -> Response:
        line = self._line(id)
        body = ResolutionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = request_api_key(request).user
        ip = client_ip(request)
        act = data["action"]
        if act in ("link", "unlink"):
            tx = spend_by_public_id(line.company, data["transaction"] or "")
            if tx is None:
                raise ValidationError(
                    {"transaction": [_("No card spend of your company has this id.")]},
                    code="unknown_transaction",
                )
            if act == "link":
                line_link(line=line, transaction=tx, user=user, note=data["note"], ip=ip)
            else:
                line_unlink(line=line, transaction=tx, user=user, note=data["note"], ip=ip)
        elif act == "accept":
            line_accept(line=line, user=user, note=data["note"], ip=ip)
        elif act == "reject":
            line_reject(line=line, user=user, note=data["note"], ip=ip)
        else:
            line_reopen(line=line, user=user, note=data["note"], ip=ip)
        fresh = self.get_queryset().prefetch_related("matches__transaction").get(pk=line.pk)
        return Response(LineSerializer(fresh).data)


def register_period_routes(router: SimpleRouter) -> None:
    router.register("expense-periods", ExpensePeriodViewSet, basename="api-expense-period")
    router.register("expense-lines", ExpenseLineViewSet, basename="api-expense-line")
