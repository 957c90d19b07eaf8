"""Admin pages of expense reconciliation, for operators: read-only (finance resolves and closes
in the portal, audited there). Reports, claim lines with their matches, periods and the filed
reconciliation reports with a download checked against the SHA-256. Never the API request's
idempotency key or digest, never the uploaded file itself (only its name, size and checksum)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from billing.admin.base import ReadOnlyAdmin, ReadOnlyInline, money_column
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    ExpenseReport,
    PeriodReport,
    ReconciliationPeriod,
)
from expenses.services.intake.base import LINE_FIELDS
from expenses.views.periods import report_file_response


@admin.register(ExpenseReport)
class ExpenseReportAdmin(ReadOnlyAdmin):
    list_display = [
        "file_name",
        "company",
        "source",
        "status",
        "rows_total",
        "error_count",
        "created_at",
        "matched_at",
    ]
    list_filter = ["status", "source"]
    search_fields = ["file_name", "file_sha256", "company__legal_name", "company__credit_code"]
    list_select_related = ["company"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "company",
        "created_by",
        "source",
        "file_name",
        "file_size",
        "file_sha256",
        "file_format",
        "encoding",
        "status",
        "rows_total",
        "rows_done",
        "error_count",
        "failure",
        "result",
        "created_at",
        "checked_at",
        "matched_at",
    ]


class ExpenseMatchInline(ReadOnlyInline):
    model = ExpenseMatch
    fields = ["transaction", "amount", "manual", "created_at"]


@admin.register(ExpenseLine)
class ExpenseLineAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "company",
        "period",
        "employee_id",
        "expense_date",
        money_column(ExpenseLine, "amount"),
        "state",
        "resolution",
    ]
    list_filter = ["state", "resolution", "evidence"]
    search_fields = [
        "report_number",
        "employee_id",
        "employee_name",
        "fapiao_number",
        "merchant_reference",
        "company__legal_name",
    ]
    list_select_related = ["company", "period"]
    date_hierarchy = "expense_date"
    inlines = [ExpenseMatchInline]
    fields = [
        "public_id",
        "company",
        "report",
        "period",
        "row_number",
        *LINE_FIELDS,
        "state",
        "evidence",
        "card",
        "matched_amount",
        "difference",
        "duplicate_of",
        "resolution",
        "resolution_note",
        "resolved_by",
        "resolved_at",
    ]


class PeriodReportInline(ReadOnlyInline):
    model = PeriodReport
    fields = ["version", "file_format", "file_sha256", "created_at", "created_by"]


@admin.register(ReconciliationPeriod)
class ReconciliationPeriodAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "company", "status", "closed_at", "closed_by"]
    list_filter = ["status"]
    search_fields = ["company__legal_name", "company__credit_code"]
    list_select_related = ["company", "closed_by"]
    fields = ["public_id", "company", "month", "status", "closed_at", "closed_by", "created_at"]
    inlines = [PeriodReportInline]


@admin.register(PeriodReport)
class PeriodReportAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "company",
        "file_format",
        "short_sha256",
        "created_at",
        "created_by",
        "download",
    ]
    list_filter = ["file_format"]
    search_fields = ["file_sha256", "period__company__legal_name"]
    list_select_related = ["period__company", "created_by"]
    fields = [
        "public_id",
        "period",
        "version",
        "file_format",
        "file_sha256",
        "figures",
        "created_at",
        "created_by",
        "download",
    ]
    readonly_fields = ["download"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodReport]:
        return super().get_queryset(request).select_related("period__company")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="expenses_periodreport_download",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("company"))
    def company(self, obj: PeriodReport) -> str:
        return str(obj.period.company)

    @admin.display(description=gettext_lazy("checksum (SHA-256)"))
    def short_sha256(self, obj: PeriodReport) -> str:
        return f"{obj.file_sha256[:12]}…"

    @admin.display(description=gettext_lazy("file"))
    def download(self, obj: PeriodReport) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:expenses_periodreport_download", args=[obj.pk]),
            obj.file_format.upper(),
        )

    def download_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        report = self.get_object(request, object_id)
        if report is None or not self.has_view_permission(request, report):
            raise PermissionDenied
        return report_file_response(report)
