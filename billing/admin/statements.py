"""Admin pages of statements: read-only (an issued statement never changes), with download links
to the stored files (never their contents in a list), a form that queues statements of chosen
companies for a date range, and a re-issue action (queued; a new version)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from billing.admin.base import ReadOnlyAdmin
from billing.downloads import statement_file_response
from billing.models import Statement, StatementFile
from billing.money import format_cny
from billing.services.statements import (
    StatementStateError,
    statement_queue_reissue,
    statement_request,
    statement_retry,
)
from portal.models import Company

BUILD_PERMISSION = "billing.add_statement"


class StatementBuildForm(forms.Form):
    companies = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Companies"),
        queryset=Company.objects.live().filter(status=Company.Status.ACTIVE).order_by("legal_name"),
        widget=forms.SelectMultiple(attrs={"size": 12}),
    )
    period_start = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end = forms.DateField(
        label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"})
    )


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "company",
        "period_start",
        "period_end",
        "version",
        "trigger",
        "status",
        "closing_display",
        "issued_at",
        "downloads",
    ]
    list_filter = ["status", "trigger", "period_end"]
    search_fields = ["number", "company__legal_name", "company__credit_code"]
    list_select_related = ["company"]
    date_hierarchy = "period_end"
    fields = [
        "number",
        "company",
        "period_start",
        "period_end",
        "version",
        "trigger",
        "status",
        "opening_balance",
        "closing_balance",
        "issued_at",
        "failure_code",
        "failure",
        "requested_by",
        "summary",
    ]
    readonly_fields = ["downloads"]
    actions = ["reissue", "retry"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Statement]:
        return super().get_queryset(request).prefetch_related("files")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "build/",
                self.admin_site.admin_view(self.build_view),
                name="billing_statement_build",
            ),
            path(
                "<path:object_id>/download/<str:fmt>/",
                self.admin_site.admin_view(self.download_view),
                name="billing_statement_download",
            ),
            *super().get_urls(),
        ]

    def has_build_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BUILD_PERMISSION)

    @admin.display(description=gettext_lazy("closing balance"), ordering="closing_balance")
    def closing_display(self, obj: Statement) -> str:
        return format_cny(obj.closing_balance) if obj.closing_balance is not None else "-"

    @admin.display(description=gettext_lazy("files"))
    def downloads(self, obj: Statement) -> str:
        files = list(obj.files.all())
        if not files:
            return "-"
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:billing_statement_download", args=[obj.pk, f.format]), f.format)
                for f in files
            ),
        )

    def download_view(self, request: HttpRequest, object_id: str, fmt: str) -> FileResponse:
        statement = self.get_object(request, object_id)
        if statement is None or not self.has_view_permission(request, statement):
            raise PermissionDenied
        if fmt not in StatementFile.Format.values:
            raise PermissionDenied
        return statement_file_response(statement, fmt)

    def build_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_build_permission(request):
            raise PermissionDenied
        form = StatementBuildForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            queued = ready = 0
            try:
                for company in data["companies"]:
                    statement = statement_request(
                        company=company,
                        period_start=data["period_start"],
                        period_end=data["period_end"],
                        actor=request.user,  # type: ignore[arg-type]
                    )
                    if statement.status == Statement.Status.ISSUED:
                        ready += 1
                    else:
                        queued += 1
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                self.message_user(
                    request,
                    _("%(queued)s statements queued; %(ready)s were already issued.")
                    % {"queued": queued, "ready": ready},
                    messages.SUCCESS,
                )
                return redirect("admin:billing_statement_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": _("Build statements"),
        }
        return TemplateResponse(request, "admin/billing/statement/build.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {**(extra_context or {})}
        if self.has_build_permission(request):
            extra["build_url"] = reverse("admin:billing_statement_build")
        return super().changelist_view(request, extra_context=extra)

    @admin.action(description=gettext_lazy("Re-issue the selected statements (new versions)"))
    def reissue(self, request: HttpRequest, queryset: QuerySet[Statement]) -> None:
        if not self.has_build_permission(request):
            raise PermissionDenied
        issued = queryset.filter(status=Statement.Status.ISSUED).select_related("company")
        count = 0
        for statement in issued:
            statement_queue_reissue(statement=statement, actor=request.user)  # type: ignore[arg-type]
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d re-issue queued.", "%(count)d re-issues queued.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=gettext_lazy("Retry the selected failed statements"))
    def retry(self, request: HttpRequest, queryset: QuerySet[Statement]) -> None:
        if not self.has_build_permission(request):
            raise PermissionDenied
        count = 0
        for statement in queryset.order_by("pk"):
            try:
                statement_retry(statement=statement, actor=request.user)  # type: ignore[arg-type]
            except StatementStateError as exc:
                self.message_user(request, exc.messages[0], messages.WARNING)
            else:
                count += 1
        self.message_user(
            request,
            ngettext("%(count)d retry queued.", "%(count)d retries queued.", count)
            % {"count": count},
            messages.SUCCESS,
        )
