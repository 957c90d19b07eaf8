"""Operators' admin for invoices and the ledger: evidence, so read-only here."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing.admin.base import ReadOnlyAdmin, ReadOnlyInline, money_column
from billing.models import Account, Invoice, InvoiceLine, JournalEntry, Posting
from billing.money import format_cny
from billing.services.ledger import account_balance

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
        money_column(Invoice, "total"),
        money_column(Invoice, "paid_amount"),
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
    list_display = ["entry", "account", money_column(Posting, "amount")]
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
