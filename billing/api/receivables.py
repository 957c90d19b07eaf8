"""API routes for aging: /aging (the key's company, invoices:read, roles that may see aging)."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from billing.services.receivables import BUCKET_KEYS, aging_report
from portal.api.access import ApiAccess, api_require
from portal.api.authentication import request_company
from portal.api.schema import ERROR_RESPONSES, SingleObjectSchema
from portal.policy import Action


class AgingBucketsSerializer(serializers.Serializer[Any]):
    current = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("Not yet past due.")
    )
    d1_30 = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("1 to 30 days past due.")
    )
    d31_60 = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("31 to 60 days past due.")
    )
    d61_90 = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("61 to 90 days past due.")
    )
    over_90 = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("Over 90 days past due.")
    )


class AgingInvoiceSerializer(serializers.Serializer[Any]):
    number = serializers.CharField()
    order_number = serializers.CharField()
    issue_date = serializers.DateField()
    due_date = serializers.DateField(allow_null=True)
    days_past_due = serializers.IntegerField()
    bucket = serializers.ChoiceField(choices=list(BUCKET_KEYS))
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    balance_due = serializers.DecimalField(max_digits=14, decimal_places=2, source="balance")


class AgingSerializer(serializers.Serializer[Any]):
    as_of = serializers.DateField(
        help_text=gettext_lazy("Balances at the end of this day (Asia/Shanghai).")
    )
    currency = serializers.CharField()
    buckets = AgingBucketsSerializer()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    invoices = AgingInvoiceSerializer(many=True)


def _as_of(raw: str) -> datetime.date:
    today = timezone.localdate()
    if not raw.strip():
        return today
    try:
        value = datetime.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError(
            {
                "as_of": _("“%(value)s” is not a date; write it as YYYY-MM-DD, e.g. %(today)s.")
                % {"value": raw[:40], "today": today.isoformat()}
            }
        ) from None
    if value > today:
        raise ValidationError(
            {
                "as_of": _("%(value)s is in the future; use today (%(today)s) or an earlier day.")
                % {"value": value.isoformat(), "today": today.isoformat()}
            }
        )
    return value


class AgingViewSet(ApiAccess, viewsets.ViewSet):
    """Aging of the key's company: open invoice balances by days past due."""

    policy_actions = {"list": Action.AGING_READ}
    schema = SingleObjectSchema()

    @extend_schema(
        summary=gettext_lazy("Aging of unpaid invoices, as of a day"),
        description=gettext_lazy(
            "Open invoice balances of the key's company at the end of a day (Asia/Shanghai), in "
            "buckets of days past due: current, 1-30, 31-60, 61-90, over 90. Payments count from "
            "the moment they were applied, so a past day shows what was owed then."
        ),
        parameters=[
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATE,
                description=gettext_lazy("YYYY-MM-DD; today when omitted. Not in the future."),
            )
        ],
        responses={200: AgingSerializer, **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        api_require(request, Action.AGING_READ)
        company = request_company(request)
        report = aging_report(as_of=_as_of(request.query_params.get("as_of", "")), company=company)
        row = report.row_for(company)
        body = {
            "as_of": report.as_of,
            "currency": "CNY",
            "buckets": report.totals,
            "total": report.total,
            "invoices": row.items if row is not None else [],
        }
        return Response(AgingSerializer(body).data)


def register_receivable_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register("aging", AgingViewSet, basename="api-aging")
