"""Operators' receivables pages (imported by billing/admin/): the aging report of all companies
(as of any date, CSV/XLSX), reminders sent, credit holds (re-evaluated on demand) and the nightly
ledger checks (the latest failing one is announced on the list; a check can be run now)."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from billing.admin.base import ReadOnlyAdmin
from billing.downloads import EXPORT_TYPES, aging_export_response
from billing.models import CreditHold, InvoiceReminder, LedgerCheck
from billing.services.receivables import (
    BUCKETS,
    CHECK_LABELS,
    aging_report,
    credit_hold_refresh,
    ledger_check_run,
)


class AgingForm(forms.Form):
    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Balances at the end of this day (Asia/Shanghai)."),
    )

    def clean_as_of(self) -> datetime.date:
        value: datetime.date = self.cleaned_data["as_of"]
        if value > timezone.localdate():
            raise forms.ValidationError(
                _("%(date)s is in the future; choose today or an earlier day.")
                % {"date": value.isoformat()}
            )
        return value


@admin.register(InvoiceReminder)
class InvoiceReminderAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "company", "kind", "sent_at"]
    list_filter = ["kind", "sent_at"]
    search_fields = ["invoice__number", "invoice__company__legal_name"]
    list_select_related = ["invoice", "invoice__company"]
    date_hierarchy = "sent_at"
    fields = ["invoice", "kind", "sent_at"]

    @admin.display(description=gettext_lazy("company"), ordering="invoice__company__legal_name")
    def company(self, obj: InvoiceReminder) -> str:
        return obj.invoice.company.legal_name


class HoldOpenFilter(admin.SimpleListFilter):
    title = gettext_lazy("open")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", pgettext_lazy("credit hold", "Open")), ("no", gettext_lazy("Lifted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(CreditHold)
class CreditHoldAdmin(ReadOnlyAdmin):
    list_display = ["company", "invoice", "placed_at", "lifted_at", "is_open"]
    list_filter = [HoldOpenFilter, "placed_at"]
    search_fields = ["company__legal_name", "company__credit_code", "invoice__number"]
    list_select_related = ["company", "invoice"]
    fields = ["company", "invoice", "placed_at", "lifted_at"]
    actions = ["refresh_holds"]
    change_list_template = "admin/billing/credithold/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "aging/",
                self.admin_site.admin_view(self.aging_view),
                name="billing_aging",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("open"), boolean=True)
    def is_open(self, obj: CreditHold) -> bool:
        return obj.lifted_at is None

    @admin.action(description=gettext_lazy("Re-evaluate the holds of the selected companies now"))
    def refresh_holds(self, request: HttpRequest, queryset: QuerySet[CreditHold]) -> None:
        user = request.user if request.user.is_authenticated else None
        changed = 0
        for company in {hold.company for hold in queryset.select_related("company")}:
            if credit_hold_refresh(company=company, actor=user) is not None:
                changed += 1
        self.message_user(
            request,
            _("%(count)s hold(s) changed; the others still apply.") % {"count": changed},
            messages.SUCCESS,
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"aging_url": reverse("admin:billing_aging"), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def aging_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = AgingForm(request.GET or {"as_of": timezone.localdate().isoformat()})
        report = aging_report(as_of=form.cleaned_data["as_of"]) if form.is_valid() else None
        fmt = request.GET.get("format", "")
        if report is not None and fmt in EXPORT_TYPES:
            return aging_export_response(report, fmt=fmt, detail=request.GET.get("detail") == "1")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Aging report"),
            "form": form,
            "report": report,
            "buckets": BUCKETS,
        }
        return TemplateResponse(request, "admin/billing/credithold/aging.html", context)


@admin.register(LedgerCheck)
class LedgerCheckAdmin(ReadOnlyAdmin):
    list_display = ["ran_at", "ok", "failing"]
    list_filter = ["ok", "ran_at"]
    date_hierarchy = "ran_at"
    fields = ["ran_at", "ok", "summary", "results"]
    readonly_fields = ["summary"]
    change_list_template = "admin/billing/ledgercheck/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "run/",
                self.admin_site.admin_view(require_POST(self.run_view)),
                name="billing_ledgercheck_run",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("drift in"))
    def failing(self, obj: LedgerCheck) -> str:
        names = [
            str(CHECK_LABELS.get(name, name))
            for name, result in sorted(obj.results.items())
            if not result.get("ok")
        ]
        return "; ".join(names) or "-"

    @admin.display(description=gettext_lazy("checks"))
    def summary(self, obj: LedgerCheck) -> str:
        rows = []
        for name, result in sorted(obj.results.items()):
            state = _("ok") if result.get("ok") else _("DRIFT")
            figures = (
                _("expected %(expected)s, found %(actual)s")
                % {"expected": result.get("expected", "-"), "actual": result.get("actual", "-")}
                if "error" not in result
                else _("could not run: %(error)s") % {"error": result["error"]}
            )
            rows.append((str(CHECK_LABELS.get(name, name)), state, figures))
        return format_html_join("", "<p><strong>{}</strong>: {} ({})</p>", rows)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        latest = LedgerCheck.objects.order_by("-ran_at", "-id").first()
        if latest is not None and not latest.ok:
            self.message_user(
                request,
                _("The latest ledger check (%(time)s) found a drift in: %(checks)s.")
                % {
                    "time": timezone.localtime(latest.ran_at).strftime("%Y-%m-%d %H:%M"),
                    "checks": self.failing(latest),
                },
                messages.ERROR,
            )
        extra = {
            "run_url": reverse("admin:billing_ledgercheck_run")
            if self.has_run_permission(request)
            else "",
            "latest_failing": latest if latest is not None and not latest.ok else None,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def has_run_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff) and self.has_view_permission(
            request
        )

    def run_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_run_permission(request):
            raise PermissionDenied
        run = ledger_check_run()
        if run.ok:
            self.message_user(request, _("Every invariant holds."), messages.SUCCESS)
        else:
            self.message_user(
                request,
                _("Drift found in: %(checks)s. The operators were emailed.")
                % {"checks": self.failing(run)},
                messages.ERROR,
            )
        return HttpResponseRedirect(reverse("admin:billing_ledgercheck_change", args=[run.pk]))
