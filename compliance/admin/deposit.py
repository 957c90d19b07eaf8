"""Deposit records (entered by operators, never edited: a correction is a new record) and the
daily deposit checks (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from billing.admin.base import money_column
from billing.money import ZERO
from compliance.models import DepositCheck, DepositRecord
from compliance.services.deposit import deposit_record_create
from portal import days
from portal.client_ip import client_ip


class DepositRecordForm(forms.ModelForm):
    class Meta:
        model = DepositRecord
        fields = ["as_of", "escrow_balance", "guarantee_amount", "bank", "note"]

    def clean_as_of(self) -> Any:
        as_of = self.cleaned_data["as_of"]
        if as_of and as_of > days.today():
            raise ValidationError(
                _("As of: %(date)s is in the future; record a balance the bank has shown.")
                % {"date": as_of.isoformat()},
                code="future_date",
            )
        return as_of


@admin.register(DepositRecord)
class DepositRecordAdmin(admin.ModelAdmin):
    form = DepositRecordForm
    list_display = [
        "as_of",
        money_column(DepositRecord, "escrow_balance"),
        money_column(DepositRecord, "guarantee_amount"),
        "bank",
        "recorded_by",
        "recorded_at",
        "note",
    ]
    list_select_related = ["recorded_by"]
    date_hierarchy = "as_of"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return [*DepositRecordForm.Meta.fields, "recorded_by", "recorded_at"]
        return []

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        record = deposit_record_create(
            operator=request.user,  # type: ignore[arg-type]
            as_of=data["as_of"],
            escrow_balance=data["escrow_balance"],
            guarantee_amount=data.get("guarantee_amount") or ZERO,
            bank=data.get("bank") or "",
            note=data.get("note") or "",
            ip=client_ip(request),
        )
        obj.pk = record.pk
        obj.public_id = record.public_id
        obj._state.adding = False


@admin.register(DepositCheck)
class DepositCheckAdmin(admin.ModelAdmin):
    list_display = [
        "date",
        money_column(DepositCheck, "outstanding"),
        "ratio",
        money_column(DepositCheck, "required"),
        money_column(DepositCheck, "deposit"),
        money_column(DepositCheck, "shortfall"),
        "computed_at",
    ]
    date_hierarchy = "date"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
