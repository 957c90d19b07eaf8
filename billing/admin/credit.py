"""Operators' admin for credit lines, saved through their service (validated, audited with the
operator's IP), and the credit held for orders (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from billing.admin.base import ReadOnlyAdmin, _service_errors, money_column
from billing.models import CreditLine, CreditReservation
from billing.money import format_cny
from billing.services.credit import (
    CreditPosition,
    credit_line_set,
    credit_line_validate,
    credit_position,
)
from portal.services.audit import client_ip

# --- Credit lines --------------------------------------------------------------------------------


class CreditLineForm(forms.ModelForm):
    class Meta:
        model = CreditLine
        fields = ["company", "limit", "net_days", "grace_days", "status"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = ("limit", "net_days", "grace_days", "status")
        if all(data.get(name) is not None for name in needed):
            try:
                credit_line_validate(
                    limit=data["limit"],
                    net_days=data["net_days"],
                    grace_days=data["grace_days"],
                    status=data["status"],
                )
            except ValidationError as exc:
                _service_errors(self, exc)
        return data


@admin.register(CreditLine)
class CreditLineAdmin(admin.ModelAdmin):
    form = CreditLineForm
    list_display = [
        "company",
        "limit_display",
        "used_display",
        "available_display",
        "net_days",
        "grace_days",
        "status",
        "past_due_display",
        "updated_at",
    ]
    list_filter = ["status", "net_days"]
    search_fields = ["company__legal_name", "company__credit_code"]
    list_select_related = ["company"]
    autocomplete_fields = ["company"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["company", "used_display", "available_display", "past_due_display", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Suspend a line instead: invoices and the audit trail refer to it.
        return False

    def save_model(self, request: HttpRequest, obj: CreditLine, form: Any, change: bool) -> None:
        saved = credit_line_set(
            company=obj.company,
            limit=obj.limit,
            net_days=obj.net_days,
            grace_days=obj.grace_days,
            status=obj.status,
            actor=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
        obj.pk = saved.pk
        obj.updated_at = saved.updated_at

    def _position(self, obj: CreditLine) -> CreditPosition | None:
        # Computed once per row, shared by the columns below.
        if "_credit_position" not in obj.__dict__:
            obj.__dict__["_credit_position"] = credit_position(obj.company, line=obj)
        position: CreditPosition | None = obj.__dict__["_credit_position"]
        return position

    @admin.display(description=_("credit limit"), ordering="limit")
    def limit_display(self, obj: CreditLine) -> str:
        return format_cny(obj.limit)

    @admin.display(description=_("used (unpaid + held)"))
    def used_display(self, obj: CreditLine) -> str:
        position = self._position(obj)
        return format_cny(position.unpaid + position.reserved) if position else "-"

    @admin.display(description=_("available"))
    def available_display(self, obj: CreditLine) -> str:
        position = self._position(obj)
        return format_cny(position.available) if position else "-"

    @admin.display(description=_("past due + grace"))
    def past_due_display(self, obj: CreditLine) -> str:
        position = self._position(obj)
        return (position.past_due_invoice or "-") if position else "-"


@admin.register(CreditReservation)
class CreditReservationAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "company",
        money_column(CreditReservation, "amount"),
        "created_at",
        "released_at",
    ]
    list_filter = ["released_at"]
    search_fields = ["reference", "company__legal_name"]
    list_select_related = ["company"]
    fields = ["company", "reference", "amount", "created_at", "released_at"]
