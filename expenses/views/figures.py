"""Portal pages of a period's figures (tabs by cost center, employee and order, with CSV/XLSX
export) and of one claim line's chain, from the invoice to the claim. Read-only: owners,
finance and viewers; the active company's rows only (another company's line is a 404)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from expenses.models import ExpenseLine, ReconciliationPeriod
from expenses.services.reports import (
    DIMENSIONS,
    figures_export,
    figures_table,
    line_chain,
    period_figures,
)
from expenses.services.vouchers import CONTENT_TYPES
from expenses.views.vouchers import parse_month
from portal.access import (
    active_company,
    company_objects,
    get_company_object_or_404,
    policy_required,
)
from portal.policy import Action


def _cells(header: list[str], row: list[Any]) -> list[dict[str, Any]]:
    return [
        {"value": value, "amount": isinstance(value, Decimal), "label": label}
        for label, value in zip(header, row, strict=True)
    ]


@never_cache
@policy_required(Action.EXPENSES_READ)
def period_reports(request: HttpRequest, month: str) -> HttpResponse:
    first = parse_month(month)
    company = active_company(request)
    dimension = request.GET.get("by", "cost_center")
    if dimension not in DIMENSIONS:
        dimension = "cost_center"
    figures = period_figures(company=company, month=first, dimension=dimension)
    fmt = request.GET.get("format", "")
    if fmt in CONTENT_TYPES:
        response = HttpResponse(figures_export(figures, fmt=fmt), content_type=CONTENT_TYPES[fmt])
        name = f"figures-{month}-{dimension}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    header, body = figures_table(figures)
    period = company_objects(request, ReconciliationPeriod).filter(month=first).first()
    return render(
        request,
        "expenses/figures.html",
        {
            "month": month,
            "period": period,
            "dimension": dimension,
            "tabs": [{"key": key, "label": label} for key, label in DIMENSIONS.items()],
            "header": header,
            "rows": [_cells(header, row) for row in body[:-1]],
            "total": _cells(header, body[-1]),
        },
    )


@never_cache
@policy_required(Action.EXPENSES_READ)
def line_chain_page(request: HttpRequest, public_id: str) -> HttpResponse:
    line = get_company_object_or_404(
        request, ExpenseLine.objects.select_related("period", "report"), public_id=public_id
    )
    return render(
        request,
        "expenses/chain.html",
        {
            "line": line,
            "chain": line_chain(line=line),
            "month": line.period.month.strftime("%Y-%m"),
        },
    )
