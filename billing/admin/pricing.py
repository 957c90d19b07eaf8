"""Operators' admin for company pricing, saved through its service (validated, audited with the
operator's IP)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from billing.admin.base import _service_errors
from billing.models import CompanyPricing
from billing.services.pricing import pricing_set, pricing_validate
from portal.services.audit import client_ip

# --- Pricing -------------------------------------------------------------------------------------


class CompanyPricingForm(forms.ModelForm):
    class Meta:
        model = CompanyPricing
        fields = ["company", "mode", "rate"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mode") and data.get("rate") is not None:
            try:
                pricing_validate(mode=data["mode"], rate=data["rate"])
            except ValidationError as exc:
                _service_errors(self, exc)
        return data


@admin.register(CompanyPricing)
class CompanyPricingAdmin(admin.ModelAdmin):
    form = CompanyPricingForm
    list_display = ["company", "mode", "rate", "updated_at"]
    list_filter = ["mode"]
    search_fields = ["company__legal_name", "company__credit_code"]
    list_select_related = ["company"]
    autocomplete_fields = ["company"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["company", "updated_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A rate of 0 is list price; deleting would leave no trace in the audit trail.
        return False

    def save_model(
        self, request: HttpRequest, obj: CompanyPricing, form: Any, change: bool
    ) -> None:
        saved = pricing_set(
            company=obj.company,
            mode=obj.mode,
            rate=obj.rate,
            actor=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
        obj.pk = saved.pk
        obj.updated_at = saved.updated_at
