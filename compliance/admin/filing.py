"""The "Compliance reports" page: choose a kind and a period, preview the figures and tables,
file the report (or a correction), and download the filed versions. Generic over
``REPORT_KINDS``: every kind registered there appears here. Filed reports are read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from compliance.content import Period
from compliance.files import CONTENT_TYPES
from compliance.kinds import REPORT_KINDS
from compliance.models import FiledReport
from compliance.periods import period_choices, period_label, period_parse
from compliance.services import filing
from portal.client_ip import client_ip
from portal.models import User

VIEW_PERMISSION = "compliance.view_filedreport"
FILE_PERMISSION = "compliance.add_filedreport"
PERIOD_LABELS = {
    "quarter": _("quarterly"),
    "month": _("monthly"),
    "any": _("any period"),
}


def kind_title(key: str) -> str:
    kind = REPORT_KINDS.get(key)
    return str(kind.title) if kind is not None else key


class ChooseForm(forms.Form):
    kind = forms.ChoiceField(label=_("Report kind"))
    period = forms.CharField(
        label=_("Period"),
        required=False,
        max_length=24,
        help_text=_("A quarter such as 2026Q3 or a month such as 2026-07."),
    )
    start = forms.DateField(label=_("Start"), required=False, help_text=_("Or a date range."))
    end = forms.DateField(label=_("End"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind_field = self.fields["kind"]
        assert isinstance(kind_field, forms.ChoiceField)
        kind_field.choices = [
            (key, f"{kind.title} ({PERIOD_LABELS.get(kind.period, kind.period)})")
            for key, kind in REPORT_KINDS.items()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "kind" not in data:
            return data
        kind = REPORT_KINDS[data["kind"]]
        try:
            data["chosen"] = period_parse(
                kind,
                period=data.get("period") or "",
                start=data["start"].isoformat() if data.get("start") else "",
                end=data["end"].isoformat() if data.get("end") else "",
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return data


class FileForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the correction"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Required when a version is filed already; kept with the new version."),
    )


FIELDS: list[Any] = [
    "kind_display",
    "period_start",
    "period_end",
    "version",
    "supersedes",
    "correction_reason",
    "content_sha256",
    "xlsx_sha256",
    "pdf_sha256",
    "language",
    "filed_by",
    "filed_at",
    "downloads",
]


@admin.register(FiledReport)
class FiledReportAdmin(admin.ModelAdmin):
    list_display = [
        "kind_display",
        "period_start",
        "period_end",
        "version",
        "filed_by",
        "filed_at",
        "downloads",
    ]
    list_filter = ["kind"]
    list_select_related = ["filed_by"]
    date_hierarchy = "period_end"
    fields = FIELDS
    readonly_fields = FIELDS
    change_list_template = "admin/compliance/filedreport/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("report kind"), ordering="kind")
    def kind_display(self, obj: FiledReport) -> str:
        return kind_title(obj.kind)

    @admin.display(description=_("files"))
    def downloads(self, obj: FiledReport) -> str:
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:compliance_filedreport_download", args=[obj.pk, fmt]), label)
                for fmt, label in (("xlsx", "XLSX"), ("pdf", "PDF"))
            ),
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "compute/",
                self.admin_site.admin_view(self.compute_view),
                name="compliance_filedreport_compute",
            ),
            path(
                "<int:pk>/download/<str:fmt>/",
                self.admin_site.admin_view(self.download_view),
                name="compliance_filedreport_download",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "compute_url": reverse("admin:compliance_filedreport_compute"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def _may_view(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff) and request.user.has_perm(
            VIEW_PERMISSION
        )

    def _may_file(self, request: HttpRequest) -> bool:
        return self._may_view(request) and request.user.has_perm(FILE_PERMISSION)

    def compute_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_view(request):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        kind_key = source.get("kind")
        if any(source.get(name) for name in ("period", "start", "end")):
            choose = ChooseForm(source)
        else:  # only a kind (or nothing) chosen yet: offer its periods, no errors
            choose = ChooseForm(initial={"kind": kind_key})
        file_form = FileForm(request.POST or None)
        computed = None
        chosen: Period | None = None
        if choose.is_bound and choose.is_valid():
            chosen = choose.cleaned_data["chosen"]
            kind = choose.cleaned_data["kind"]
            if request.method == "POST":
                if not self._may_file(request):
                    raise PermissionDenied
                if file_form.is_valid():
                    operator: User = request.user  # type: ignore[assignment]
                    try:
                        filed = filing.report_file(
                            kind=kind,
                            period=chosen,
                            operator=operator,
                            reason=file_form.cleaned_data["reason"],
                            ip=client_ip(request),
                        )
                    except ValidationError as exc:
                        file_form.add_error(None, exc.messages)
                    else:
                        self.message_user(
                            request,
                            _("Filed %(report)s for %(period)s, version %(version)s.")
                            % {
                                "report": kind_title(kind),
                                "period": period_label(chosen),
                                "version": filed.version,
                            },
                            messages.SUCCESS,
                        )
                        return HttpResponseRedirect(
                            reverse("admin:compliance_filedreport_change", args=[filed.pk])
                        )
            computed = filing.report_compute(kind=kind, period=chosen)
        suggestions = []
        if kind_key in REPORT_KINDS:
            suggestions = [
                (label, "?" + urlencode({"kind": kind_key, "period": label}))
                for label in period_choices(REPORT_KINDS[kind_key])
            ]
        versions = (
            filing.filed_versions(kind=computed.kind.key, period=chosen)
            if computed is not None and chosen is not None
            else []
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Compliance reports"),
            "choose": choose,
            "file_form": file_form,
            "computed": computed,
            "chosen_label": period_label(chosen) if chosen else "",
            "suggestions": suggestions,
            "versions": versions,
            "may_file": self._may_file(request),
            "media": self.media + choose.media,
        }
        return TemplateResponse(request, "admin/compliance/report_compute.html", context)

    def download_view(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        if not self._may_view(request):
            raise PermissionDenied
        filed = get_object_or_404(FiledReport, pk=pk)
        operator: User = request.user  # type: ignore[assignment]
        try:
            data = filing.filed_report_download(
                filed=filed, fmt=fmt, operator=operator, ip=client_ip(request)
            )
        except ValidationError as exc:
            raise PermissionDenied(exc.messages[0]) from None
        response = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
        name = (
            f"{filed.kind}_{filed.period_start:%Y%m%d}-{filed.period_end:%Y%m%d}_v{filed.version}"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        response["X-Content-SHA256"] = filed.xlsx_sha256 if fmt == "xlsx" else filed.pdf_sha256
        return response
