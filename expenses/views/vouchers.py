"""Portal pages of vouchers: the company's account mapping (finance and owners edit it,
viewers read it) and a period's voucher export (choose the layout and format, download).

Every period is looked up within the active company: another company's is a 404."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache

from expenses.models import PeriodStatus, ReconciliationPeriod
from expenses.services.mapping import MAX_RULES, RuleInput, mapping_of, mapping_save
from expenses.services.vouchers import FORMATS, Layout, vouchers_export, vouchers_preview
from portal.access import (
    active_company,
    can,
    get_company_object_or_404,
    policy_required,
    require,
)
from portal.policy import Action
from portal.services.audit import client_ip


def parse_month(month: str) -> datetime.date:
    """The first day of a "YYYY-MM" month of a URL (years 1900 to 2999), or 404."""
    try:
        first = datetime.date.fromisoformat(f"{month}-01")
    except ValueError as exc:
        raise Http404 from exc
    if not 1900 <= first.year <= 2999:
        raise Http404
    return first


def period_or_404(request: HttpRequest, month: str) -> ReconciliationPeriod:
    return get_company_object_or_404(
        request,
        ReconciliationPeriod.objects.select_related("company"),
        month=parse_month(month),
    )


# --- The account mapping --------------------------------------------------------------------------


class MappingForm(forms.Form):
    prepaid_account = forms.CharField(label=gettext_lazy("Prepaid card account"), max_length=32)
    prepaid_account_name = forms.CharField(label=gettext_lazy("Its name"), max_length=100)
    default_expense_account = forms.CharField(
        label=gettext_lazy("Default expense account"), max_length=32
    )
    default_expense_account_name = forms.CharField(label=gettext_lazy("Its name"), max_length=100)
    employee_subledger = forms.BooleanField(
        label=gettext_lazy("Book the employee on expense lines (employee sub-ledger)"),
        required=False,
    )


class RuleForm(forms.Form):
    category = forms.CharField(label=gettext_lazy("Category"), max_length=64, required=False)
    cost_center = forms.CharField(label=gettext_lazy("Cost center"), max_length=64, required=False)
    account = forms.CharField(
        label=pgettext_lazy("ledger account", "Account"), max_length=32, required=False
    )
    account_name = forms.CharField(
        label=pgettext_lazy("ledger account", "Account name"), max_length=100, required=False
    )

    def rule(self) -> RuleInput | None:
        data = self.cleaned_data
        values = [data.get(name, "") or "" for name in self.fields]
        if not any(value.strip() for value in values):
            return None  # an empty row
        return RuleInput(*values)


RuleFormSet = forms.formset_factory(
    RuleForm, extra=3, max_num=MAX_RULES, absolute_max=MAX_RULES, validate_max=True
)


def _mapping_forms(request: HttpRequest) -> tuple[MappingForm, Any]:
    mapping = mapping_of(active_company(request))
    if mapping is None:
        return MappingForm(), RuleFormSet(prefix="rules")
    initial = {
        "prepaid_account": mapping.prepaid_account,
        "prepaid_account_name": mapping.prepaid_account_name,
        "default_expense_account": mapping.default_expense_account,
        "default_expense_account_name": mapping.default_expense_account_name,
        "employee_subledger": mapping.employee_subledger,
    }
    rules = [
        {
            "category": rule.category,
            "cost_center": rule.cost_center,
            "account": rule.account,
            "account_name": rule.account_name,
        }
        for rule in sorted(
            mapping.rules.all(), key=lambda r: (r.category.casefold(), r.cost_center.casefold())
        )
    ]
    return MappingForm(initial=initial), RuleFormSet(initial=rules, prefix="rules")


@never_cache
@policy_required(Action.EXPENSES_READ)
def mapping_page(request: HttpRequest) -> HttpResponse:
    can_edit = can(request, Action.EXPENSES_MAPPING)
    mapping = mapping_of(active_company(request))
    form, formset = _mapping_forms(request)
    status = 200
    if request.method == "POST":
        require(request, Action.EXPENSES_MAPPING)
        form = MappingForm(request.POST)
        formset = RuleFormSet(request.POST, prefix="rules")
        if form.is_valid() and formset.is_valid():
            rules = [rule for rule_form in formset.forms if (rule := rule_form.rule())]
            try:
                mapping_save(
                    company=active_company(request),
                    actor=request.user,  # type: ignore[arg-type]
                    rules=rules,
                    ip=client_ip(request),
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("The voucher account mapping is saved."))
                return redirect("expenses:mapping")
        status = 400
    return render(
        request,
        "expenses/mapping.html",
        {
            "mapping": mapping,
            "rules": sorted(
                mapping.rules.all() if mapping else [],
                key=lambda r: (r.category.casefold(), r.cost_center.casefold()),
            ),
            "form": form if can_edit else None,
            "formset": formset if can_edit else None,
        },
        status=status,
    )


# --- A period's vouchers --------------------------------------------------------------------------


class VoucherExportForm(forms.Form):
    layout = forms.ChoiceField(
        label=gettext_lazy("Layout"), choices=Layout.choices, widget=forms.RadioSelect
    )
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[("xlsx", "XLSX"), ("csv", "CSV")],
        initial="xlsx",
        widget=forms.RadioSelect,
    )


@never_cache
@policy_required(Action.EXPENSES_READ)
def period_vouchers(request: HttpRequest, month: str) -> HttpResponse:
    period = period_or_404(request, month)
    form = VoucherExportForm(initial={"layout": Layout.U8, "format": "xlsx"})
    if request.method == "POST":
        form = VoucherExportForm(request.POST)
        if form.is_valid():
            try:
                exported = vouchers_export(
                    period=period,
                    layout=form.cleaned_data["layout"],
                    fmt=form.cleaned_data["format"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages[0])
            else:
                response = HttpResponse(exported.data, content_type=exported.content_type)
                response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
                response["X-Content-SHA256"] = exported.sha256
                return response
    mapping = mapping_of(period.company)
    return render(
        request,
        "expenses/vouchers.html",
        {
            "period": period,
            "month": period.month.strftime("%Y-%m"),
            "provisional": period.status != PeriodStatus.CLOSED,
            "vouchers": vouchers_preview(period=period),
            "mapping": mapping,
            "form": form,
            "formats": FORMATS,
            "can_map": can(request, Action.EXPENSES_MAPPING),
        },
        status=400 if form.errors else 200,
    )
