"""Portal pages of expense reports: the list, the upload form and its templates, a report's page
(live progress while a worker checks and matches it; its errors and error file; once matched,
its lines by state), and discarding one.

Finance members and owners upload and discard; viewers read. Every report is looked up through
``portal.access`` scoped to the active company, so another company's report is a 404. The pages
change state only through ``expenses.services.intake``.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from cards.services.uploads.messages import upload_errors, upload_messages
from expenses.intake_selectors import report_lines, reports_for_list, state_counts
from expenses.models import ExpenseReport, LineState, ReportStatus
from expenses.services.intake import (
    expense_report_discard,
    expense_report_error_file,
    expense_report_progress,
    expense_report_receive,
    expense_report_template,
)
from portal.access import (
    active_company,
    can,
    company_objects,
    get_company_object_or_404,
    policy_required,
)
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip

REPORTS_PER_PAGE = 25
LINES_PER_PAGE = 50
# Errors listed on the page; all of them (up to the check's cap) are in the error file.
ERRORS_ON_PAGE = 200
TEMPLATE_LANGUAGES = ("zh-hans", "en")
FILE_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

reader_required = policy_required(Action.EXPENSES_READ)
uploader_required = policy_required(Action.EXPENSES_UPLOAD)


class ReportUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Expense report"),
        help_text=gettext_lazy(
            "CSV (UTF-8 or GBK; comma, semicolon or tab) or Excel (.xlsx), exported by your "
            "expense system, with a header row in Chinese or English."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.txt"}),
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _report(request: HttpRequest, public_id: Any) -> ExpenseReport:
    return get_company_object_or_404(
        request, ExpenseReport.objects.select_related("created_by"), public_id=public_id
    )


def _download(content: bytes, *, file_name: str, fmt: str) -> HttpResponse:
    response = HttpResponse(content, content_type=FILE_FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


# --- The list ------------------------------------------------------------------------------------


@require_GET
@reader_required
def report_list(request: HttpRequest) -> HttpResponse:
    reports = reports_for_list(company_objects(request, ExpenseReport))
    page = Paginator(reports, REPORTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"report": report, "states": state_counts(getattr(report, "state_counts", None))}
        for report in page
    ]
    return render(
        request,
        "expenses/reports/list.html",
        {"page": page, "rows": rows, "can_upload": can(request, Action.EXPENSES_UPLOAD)},
    )


# --- Upload --------------------------------------------------------------------------------------


@uploader_required
def report_new(request: HttpRequest) -> HttpResponse:
    """The upload form. ``replaces`` (an earlier report of the company that had errors or could
    not be read) is discarded once the fixed file has been received."""
    replaces = request.POST.get("replaces") or request.GET.get("replaces") or ""
    previous = _report(request, replaces) if replaces else None
    if request.method == "POST":
        form = ReportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                report = expense_report_receive(
                    company=active_company(request),
                    user=_user(request),
                    upload=form.cleaned_data["file"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            else:
                if previous is not None and previous.status in (
                    ReportStatus.INVALID,
                    ReportStatus.FAILED,
                ):
                    expense_report_discard(report_id=previous.pk, user=_user(request))
                return redirect("expenses:report_detail", public_id=report.public_id)
    else:
        form = ReportUploadForm()
    return render(
        request,
        "expenses/reports/form.html",
        {"form": form, "previous": previous, "languages": TEMPLATE_LANGUAGES},
    )


@require_GET
@uploader_required
def report_template(request: HttpRequest, language: str, fmt: str) -> HttpResponse:
    if language not in TEMPLATE_LANGUAGES or fmt not in FILE_FORMATS:
        raise Http404
    content = expense_report_template(language=language, fmt=fmt)
    return _download(content, file_name=f"expense-report-template-{language}.{fmt}", fmt=fmt)


# --- A report ------------------------------------------------------------------------------------


def _state_filter(request: HttpRequest) -> str:
    wanted = request.GET.get("state", "").strip()
    return wanted if wanted in LineState.values else ""


@require_GET
@reader_required
def report_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    report = _report(request, public_id)
    result: dict[str, Any] = report.result or {}
    errors = upload_errors(result)
    shown = errors[:ERRORS_ON_PAGE]
    notes = upload_messages(result, "notes")
    states = state_counts(result.get("states"))
    wanted = _state_filter(request)
    lines_page = None
    if report.status in (ReportStatus.MATCHED, ReportStatus.MATCHING, ReportStatus.FAILED):
        lines = report_lines(report, state=wanted)
        lines_page = Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page"))
    can_upload = can(request, Action.EXPENSES_UPLOAD)
    return render(
        request,
        "expenses/reports/detail.html",
        {
            "report": report,
            "result": result,
            "progress": expense_report_progress(report, fresh=False),
            "errors": shown,
            "error_count": report.error_count,
            "errors_hidden": max(report.error_count - len(shown), 0),
            "notes": notes,
            "notes_hidden": max(int(result.get("note_count") or 0) - len(notes), 0),
            "states": states,
            "state": wanted,
            "state_label": LineState(wanted).label if wanted else "",
            "lines_page": lines_page,
            "can_discard": can_upload
            and report.status
            not in (ReportStatus.DISCARDED, ReportStatus.MATCHING, ReportStatus.CHECKING),
            "can_replace": can_upload
            and report.status in (ReportStatus.INVALID, ReportStatus.FAILED),
        },
    )


@require_GET
@never_cache
@reader_required
def report_progress(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The progress panel, polled by htmx while a worker checks and matches the report; once
    it is done, htmx reloads the page (``HX-Refresh``)."""
    report = _report(request, public_id)
    progress = expense_report_progress(report)
    response = render(
        request, "expenses/reports/_progress.html", {"report": report, "progress": progress}
    )
    if progress["finished"]:
        response["HX-Refresh"] = "true"
    return response


@require_GET
@reader_required
def report_errors(request: HttpRequest, public_id: Any, fmt: str) -> HttpResponse:
    if fmt not in FILE_FORMATS:
        raise Http404
    report = _report(request, public_id)
    if report.status != ReportStatus.INVALID or not report.error_count:
        raise Http404
    content = expense_report_error_file(report, fmt)
    return _download(content, file_name=f"errors-{report.public_id}.{fmt}", fmt=fmt)


@require_POST
@uploader_required
def report_discard(request: HttpRequest, public_id: Any) -> HttpResponse:
    report = _report(request, public_id)
    try:
        expense_report_discard(report_id=report.pk, user=_user(request), ip=client_ip(request))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("expenses:report_detail", public_id=report.public_id)
    messages.success(request, _("%(file)s was discarded.") % {"file": report.file_name})
    return redirect("expenses:report_list")
