"""Operators' admin for pricing, credit lines, invoices and the ledger.

Pricing and credit lines are saved through their services (validated, audited with the
operator's IP); invoices and the journal are evidence, so they are read-only here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from billing.models import (
    Account,
    CompanyPricing,
    CreditLine,
    CreditReservation,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Posting,
)
from billing.money import format_cny
from billing.services.credit import (
    CreditPosition,
    credit_line_set,
    credit_line_validate,
    credit_position,
)
from billing.services.ledger import account_balance
from billing.services.pricing import pricing_set, pricing_validate
from portal.services.audit import client_ip


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, changed or deleted from the admin."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        shown = self.fields or [field.name for field in self.model._meta.fields]
        return list(dict.fromkeys([*shown, *self.readonly_fields]))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields or [])  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _service_errors(form: forms.ModelForm, exc: ValidationError) -> None:
    """Show a service's field errors on the form's fields (others at the top)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


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
    list_display = ["reference", "company", "amount", "created_at", "released_at"]
    list_filter = ["released_at"]
    search_fields = ["reference", "company__legal_name"]
    list_select_related = ["company"]
    fields = ["company", "reference", "amount", "created_at", "released_at"]


# --- Invoices ------------------------------------------------------------------------------------


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ["position", "line_text", "face_value", "quantity", "unit_price", "amount"]

    @admin.display(description=_("description"))
    def line_text(self, obj: InvoiceLine) -> str:
        return obj.text


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "kind",
        "company",
        "order_number",
        "issue_date",
        "due_date",
        "total",
        "paid_amount",
        "status",
    ]
    list_filter = ["kind", "status", "issue_date"]
    search_fields = ["number", "order_number", "payment_reference", "company__legal_name"]
    list_select_related = ["company"]
    date_hierarchy = "issue_date"
    inlines = [InvoiceLineInline]
    fields = [
        "number",
        "kind",
        "company",
        "order_number",
        "buyer_name",
        "buyer_credit_code",
        "tax_category",
        "issue_date",
        "due_date",
        "face_total",
        "total",
        "paid_amount",
        "status",
        "payment_reference",
        "credited_invoice",
        "note",
        "created_by",
        "created_at",
    ]


# --- Ledger --------------------------------------------------------------------------------------


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ["account", "amount"]


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    """The journal is append-only (the database refuses changes): corrections are new,
    reversing entries."""

    list_display = ["created_at", "kind", "reference", "company", "memo"]
    list_filter = ["kind"]
    search_fields = ["reference", "memo", "company__legal_name"]
    list_select_related = ["company"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]
    fields = ["created_at", "kind", "reference", "company", "memo", "idempotency_key"]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ["entry", "account", "amount"]
    list_filter = ["account__kind"]
    search_fields = ["entry__reference", "account__code"]
    list_select_related = ["entry", "account", "account__company"]
    fields = ["entry", "account", "amount"]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "kind", "company", "balance_display"]
    list_filter = ["kind"]
    search_fields = ["code", "company__legal_name"]
    list_select_related = ["company"]
    fields = ["code", "kind", "company", "balance_display"]

    @admin.display(description=_("balance (debit +)"))
    def balance_display(self, obj: Account) -> str:
        return format_cny(account_balance(obj))


# Payments and bank statements, receivables (aging, reminders, holds, ledger checks) and
# statements register their admin pages in their own modules; admin_import adds import and
# export (django-import-export) to the pricing admin.
from billing import (  # noqa: E402, F401
    admin_import,
    admin_payments,
    admin_receivables,
    admin_statements,
)
