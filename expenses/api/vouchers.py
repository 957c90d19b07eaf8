"""API routes for vouchers, a period's figures and a claim line's chain:

- ``GET /expense-periods/{month}/vouchers?layout=u8|kingdee|generic&format=csv|xlsx``: the
  period's vouchers as a file (numbers given at the first export are kept; an open period's
  file is provisional: its name says so and ``X-Voucher-Provisional: true``);
- ``GET /expense-periods/{month}/figures?by=cost_center|employee|order``: the month's figures;
- ``GET /expense-lines/{id}/chain``: invoice → order → order line → card → transactions →
  claim lines, for one claim line.

The key's company only (another company's period or line is a 404), ``expenses:read`` scope.
``{month}`` is ``YYYY-MM``, ``{id}`` the claim line's public id."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from expenses.models import ExpenseLine, ReconciliationPeriod
from expenses.services.reports import (
    DIMENSIONS,
    FIGURE_COLUMNS,
    chain_data,
    line_chain,
    period_figures,
)
from expenses.services.vouchers import CONTENT_TYPES, FORMATS, Layout, vouchers_export
from expenses.views.vouchers import parse_month
from portal.api.access import ApiAccess, api_require
from portal.api.authentication import request_api_key
from portal.api.schema import ERROR_RESPONSES, SHA256_HEADER, SingleObjectSchema
from portal.policy import Action
from portal.services.audit import client_ip

MONTH_PATTERN = r"[0-9]{4}-[0-9]{2}"
MONTH_PARAMETER = OpenApiParameter(
    "month",
    {"type": "string", "pattern": f"^{MONTH_PATTERN}$"},
    OpenApiParameter.PATH,
    description=gettext_lazy("The period's month, YYYY-MM (Asia/Shanghai)."),
)


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name, default).strip().lower()
    if value not in allowed:
        raise ValidationError(
            {
                name: _("Unknown %(field)s “%(value)s”; use one of %(values)s.")
                % {"field": name, "value": value[:40], "values": ", ".join(allowed)}
            }
        )
    return value


def _period(view: ApiAccess, month: str) -> ReconciliationPeriod:
    return view.company_object_or_404(
        ReconciliationPeriod.objects.select_related("company"), month=parse_month(month)
    )


class PeriodVoucherViewSet(ApiAccess, viewsets.ViewSet):
    """A period's vouchers as a file their accounting system imports."""

    policy_actions = {"list": Action.EXPENSES_READ}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ``?format=`` names the file here, not a DRF renderer; errors are JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="expense_period_vouchers",
        summary=gettext_lazy("Download a period's vouchers (U8, Kingdee or a generic journal)"),
        description=gettext_lazy(
            "The period's accepted claim lines (matched, or accepted exceptions) as journal "
            "lines: one voucher per cost center, each claim line debiting its expense account "
            "and the prepaid card account credited with the voucher's total. Voucher numbers "
            "given at the first export are kept, so a closed period exports to the same bytes "
            "every time. An open period's file is provisional: its name ends in "
            "-provisional and the X-Voucher-Provisional header is true. Needs the account "
            "mapping set in the portal (400 mapping_missing otherwise)."
        ),
        parameters=[
            MONTH_PARAMETER,
            OpenApiParameter(
                "layout",
                OpenApiTypes.STR,
                enum=list(Layout.values),
                description=gettext_lazy("u8 (the default), kingdee or generic"),
            ),
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(FORMATS),
                description=gettext_lazy("csv (the default) or xlsx"),
            ),
            SHA256_HEADER,
            OpenApiParameter(
                "X-Voucher-Provisional",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200],
                description=gettext_lazy("true when the period is still open."),
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The vouchers as CSV.")
            ),
            (200, CONTENT_TYPES["xlsx"]): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The vouchers as XLSX.")
            ),
            **ERROR_RESPONSES,
        },
    )
    def list(self, request: Request, month: str) -> HttpResponse:
        layout = _choice(request, "layout", tuple(Layout.values), Layout.U8)
        fmt = _choice(request, "format", FORMATS, "csv")
        period = _period(self, month)
        key = request_api_key(request)
        exported = vouchers_export(
            period=period, layout=layout, fmt=fmt, actor=key.user, ip=client_ip(request)
        )
        response = HttpResponse(exported.data, content_type=exported.content_type)
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response["X-Content-SHA256"] = exported.sha256
        response["X-Voucher-Provisional"] = "true" if exported.provisional else "false"
        response["Cache-Control"] = "no-store"
        return response


def _figure_fields() -> dict[str, serializers.Field]:
    return {
        "key": serializers.CharField(
            help_text=gettext_lazy("The cost center, employee ID or order number; empty for none.")
        ),
        **{
            name: serializers.IntegerField()
            if name.endswith(("cards", "lines"))
            else serializers.DecimalField(max_digits=16, decimal_places=2)
            for name, _label in FIGURE_COLUMNS
        },
    }


FiguresSerializer = inline_serializer(
    name="ExpensePeriodFigures",
    fields={
        "month": serializers.CharField(),
        "by": serializers.ChoiceField(choices=list(DIMENSIONS)),
        "rows": inline_serializer(name="ExpenseFigureRow", fields=_figure_fields(), many=True),
        "total": inline_serializer(name="ExpenseFigureTotal", fields=_figure_fields()),
    },
)


def _row(item: Any) -> dict[str, Any]:
    """A figures row as JSON: counts as numbers, amounts as strings with two decimals."""
    values = {name: getattr(item, name) for name, _label in FIGURE_COLUMNS}
    return {
        "key": item.key,
        **{
            name: value if isinstance(value, int) else f"{value:.2f}"
            for name, value in values.items()
        },
    }


class PeriodFiguresViewSet(ApiAccess, viewsets.ViewSet):
    """A month's figures by cost center, employee or order."""

    policy_actions = {"list": Action.EXPENSES_READ}
    schema = SingleObjectSchema()

    @extend_schema(
        operation_id="expense_period_figures",
        summary=gettext_lazy("A month's figures: bought, delivered, spent, claimed, unclaimed"),
        parameters=[
            MONTH_PARAMETER,
            OpenApiParameter(
                "by",
                OpenApiTypes.STR,
                enum=list(DIMENSIONS),
                description=gettext_lazy("cost_center (the default), employee or order"),
            ),
        ],
        responses={200: FiguresSerializer, **ERROR_RESPONSES},
    )
    def list(self, request: Request, month: str) -> Response:
        dimension = _choice(request, "by", tuple(DIMENSIONS), "cost_center")
        first = parse_month(month)
        company = request_api_key(request).company
        api_require(request, Action.EXPENSES_READ)  # the key's scope and its holder's role
        figures = period_figures(company=company, month=first, dimension=dimension)
        return Response(
            {
                "month": month,
                "by": dimension,
                "rows": [_row(item) for item in figures.rows],
                "total": _row(figures.total),
            }
        )


ChainSerializer = inline_serializer(
    name="ExpenseLineChain",
    fields={
        "line": serializers.JSONField(help_text=gettext_lazy("The claim line.")),
        "cards": serializers.JSONField(
            help_text=gettext_lazy(
                "For each card the line is matched to: its invoice, order, order line, the card "
                "(serial, never the code), its transactions and the claim lines matched to each."
            )
        ),
    },
)


class LineChainViewSet(ApiAccess, viewsets.ViewSet):
    """From the invoice to the claim, for one claim line."""

    policy_actions = {"list": Action.EXPENSES_READ}
    schema = SingleObjectSchema()

    @extend_schema(
        operation_id="expense_line_chain",
        summary=gettext_lazy("The chain of one claim line: invoice to card spend to claims"),
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: ChainSerializer, **ERROR_RESPONSES},
    )
    def list(self, request: Request, id: str) -> Response:
        try:
            public_id = uuid.UUID(id)
        except ValueError as exc:
            raise Http404 from exc
        line = self.company_object_or_404(ExpenseLine, public_id=public_id)
        return Response(chain_data(line, line_chain(line=line)))


def register_voucher_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes (each under a path of its own)."""
    router.register(
        rf"expense-periods/(?P<month>{MONTH_PATTERN})/vouchers",
        PeriodVoucherViewSet,
        basename="api-expense-period-vouchers",
    )
    router.register(
        rf"expense-periods/(?P<month>{MONTH_PATTERN})/figures",
        PeriodFiguresViewSet,
        basename="api-expense-period-figures",
    )
    router.register(
        r"expense-lines/(?P<id>[0-9a-fA-F-]{32,36})/chain",
        LineChainViewSet,
        basename="api-expense-line-chain",
    )
