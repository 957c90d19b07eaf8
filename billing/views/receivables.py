"""Buyer pages of receivables: the company's aging (with CSV/XLSX export) and its payment
history. Both are scoped to the active company; owners, finance, approvers and purchasers may
read them (viewers see invoices only)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from billing.downloads import EXPORT_TYPES, aging_export_response
from billing.models import Allocation, Payment
from billing.selectors import aging_chart
from billing.services.receivables import BUCKETS, aging_report
from portal.access import active_company, company_objects, policy_required
from portal.policy import Action

PAYMENTS_PER_PAGE = 25


def parse_as_of(raw: str) -> tuple[datetime.date, str]:
    """The as-of date of a request (today when absent), and an error message when ``raw`` is
    not a usable date."""
    today = timezone.localdate()
    raw = raw.strip()
    if not raw:
        return today, ""
    try:
        value = datetime.date.fromisoformat(raw)
    except ValueError:
        return today, _("“%(value)s” is not a date; write it as YYYY-MM-DD, e.g. %(today)s.") % {
            "value": raw[:40],
            "today": today.isoformat(),
        }
    if value > today:
        return today, _("%(value)s is in the future; the aging is shown as of today.") % {
            "value": value.isoformat()
        }
    return value, ""


@never_cache
@policy_required(Action.AGING_READ)
def aging(request: HttpRequest) -> HttpResponse:
    company = active_company(request)
    as_of, error = parse_as_of(request.GET.get("as_of", ""))
    report = aging_report(as_of=as_of, company=company)
    fmt = request.GET.get("format", "")
    if fmt in EXPORT_TYPES and not error:
        return aging_export_response(report, fmt=fmt, detail=True)
    row = report.row_for(company)
    buckets: list[dict[str, Any]] = [
        {"key": key, "label": label, "amount": report.totals[key]} for key, label in BUCKETS
    ]
    return render(
        request,
        "billing/aging.html",
        {
            "as_of": as_of,
            "today": timezone.localdate(),
            "error": error,
            "buckets": buckets,
            "total": report.total,
            "items": row.items if row is not None else [],
            "bucket_labels": dict(BUCKETS),
            "chart": aging_chart([(b["key"], str(b["label"]), b["amount"]) for b in buckets]),
        },
    )


@never_cache
@policy_required(Action.PAYMENTS_READ)
def payment_history(request: HttpRequest) -> HttpResponse:
    allocations = Allocation.objects.select_related("invoice", "reverses").order_by(
        "created_at", "id"
    )
    payments = (
        company_objects(request, Payment)
        .prefetch_related(Prefetch("allocations", queryset=allocations))
        .order_by("-received_on", "-id")
    )
    page = Paginator(payments, PAYMENTS_PER_PAGE).get_page(request.GET.get("page"))
    credit_uses = (
        company_objects(request, Allocation)
        .filter(kind=Allocation.Kind.CREDIT_USE)
        .select_related("invoice")
        .order_by("-created_at", "-id")[:50]
    )
    return render(
        request,
        "billing/payment_history.html",
        {"page": page, "credit_uses": credit_uses},
    )
