"""Portal pages of reconciliation periods: the list, one period (its figures, close, re-open for
owners with a reason, the filed report versions with their SHA-256) and a report's download.

Owners, finance and viewers read; finance and owners close; owners re-open. Every period is
looked up through ``portal.access`` scoped to the active company: another company's is a 404.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from expenses.exception_queue import parse_month, period_reports, periods_of
from expenses.models import (
    EXCEPTION_STATES,
    LineState,
    PeriodReport,
    PeriodStatus,
    ReconciliationPeriod,
)
from expenses.services.closing import period_close, period_reopen
from expenses.services.figures import period_figures
from portal.access import can, company_objects, get_company_object_or_404, policy_required
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip

REPORT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

reader_required = policy_required(Action.EXPENSES_READ)


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Why the period is re-opened; kept in the audit trail."),
    )


def period_or_404(request: HttpRequest, month: str) -> ReconciliationPeriod:
    first = parse_month(month)
    if first is None:
        raise Http404
    return get_company_object_or_404(
        request, ReconciliationPeriod.objects.select_related("company", "closed_by"), month=first
    )


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


@reader_required
def period_list(request: HttpRequest) -> HttpResponse:
    periods = list(periods_of(company_objects(request, ReconciliationPeriod)))
    return render(request, "expenses/period_list.html", {"periods": periods})


def _detail_context(
    request: HttpRequest,
    period: ReconciliationPeriod,
    *,
    reopen_form: ReopenForm | None = None,
    refusal: str = "",
) -> dict[str, Any]:
    reports = period_reports(period)
    latest = reports[0] if reports else None
    closed = period.status == PeriodStatus.CLOSED
    figures = latest.figures if closed and latest is not None else period_figures(period)
    can_reopen = can(request, Action.EXPENSES_REOPEN)
    return {
        "period": period,
        "month": f"{period.month:%Y-%m}",
        "figures": figures,
        "reports": reports,
        "closed": closed,
        "can_close": can(request, Action.EXPENSES_CLOSE) and not closed,
        "can_reopen": can_reopen and closed,
        "reopen_form": reopen_form or (ReopenForm() if can_reopen and closed else None),
        "refusal": refusal,
        "state_rows": _state_rows(figures),
    }


def _state_rows(figures: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """Each result with its count and amount: the exceptions always, matched if any."""
    return [
        (value, str(label), figures["states"][value]["count"], figures["states"][value]["amount"])
        for value, label in LineState.choices
        if value in figures.get("states", {})
        and (figures["states"][value]["count"] or value in EXCEPTION_STATES)
    ]


@reader_required
def period_detail(request: HttpRequest, month: str) -> HttpResponse:
    period = period_or_404(request, month)
    return render(request, "expenses/period_detail.html", _detail_context(request, period))


@require_POST
@policy_required(Action.EXPENSES_CLOSE)
def period_close_view(request: HttpRequest, month: str) -> HttpResponse:
    period = period_or_404(request, month)
    try:
        reports = period_close(period=period, user=_actor(request), ip=client_ip(request))
    except ValidationError as exc:
        context = _detail_context(request, period, refusal=" ".join(exc.messages))
        return render(request, "expenses/period_detail.html", context, status=409)
    messages.success(
        request,
        _("The period %(month)s is closed; its reconciliation report version %(version)s is filed.")
        % {"month": month, "version": reports[0].version},
    )
    return redirect("expenses:period_detail", month=month)


@require_POST
@policy_required(Action.EXPENSES_REOPEN)
def period_reopen_view(request: HttpRequest, month: str) -> HttpResponse:
    period = period_or_404(request, month)
    form = ReopenForm(request.POST)
    if form.is_valid():
        try:
            period_reopen(
                period=period,
                user=_actor(request),
                reason=form.cleaned_data["reason"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            for field, errors in getattr(exc, "error_dict", {"__all__": exc.error_list}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(
                request,
                _("The period %(month)s is open again; closing it files a new version.")
                % {"month": month},
            )
            return redirect("expenses:period_detail", month=month)
    context = _detail_context(request, period, reopen_form=form)
    return render(request, "expenses/period_detail.html", context, status=400)


def report_file_response(report: PeriodReport) -> FileResponse:
    """The stored bytes of a filed report, checked against their SHA-256."""
    handle = report.file.open("rb")
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    if digest.hexdigest() != report.file_sha256:
        handle.close()
        raise Http404(_("The stored file does not match its checksum; operators were told."))
    handle.seek(0)
    month: datetime.date = report.period.month
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"reconciliation-{month:%Y-%m}-v{report.version}.{report.file_format}",
        content_type=REPORT_TYPES.get(report.file_format, "application/octet-stream"),
    )
    response["X-Content-SHA256"] = report.file_sha256
    return response


@never_cache
@reader_required
def period_report_download(request: HttpRequest, month: str, public_id: str) -> HttpResponse:
    period = period_or_404(request, month)
    try:
        report = PeriodReport.objects.select_related("period").get(
            period=period, public_id=public_id
        )
    except (PeriodReport.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404 from exc
    return cast(HttpResponse, report_file_response(report))
