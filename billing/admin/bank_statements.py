"""Operators' admin for bank statement files: the "Import bank statement" page (payments
recorded through billing.services.bank_statements, audited with the operator and their IP) and
the imports done, with their payments."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin.base import ReadOnlyAdmin, ReadOnlyInline
from billing.admin.payments import _errors
from billing.models import BankStatementImport, Payment
from billing.services.bank_statements import (
    COLUMNS,
    StatementFileError,
    bank_statement_import,
)
from portal.models import User
from portal.services.audit import client_ip


class StatementUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Bank statement"),
        help_text=gettext_lazy("CSV (UTF-8 or GBK) or Excel (.xlsx), as exported by the bank."),
    )


# --- Bank statement imports ---------------------------------------------------------------------


class StatementPaymentInline(ReadOnlyInline):
    model = Payment
    fk_name = "statement_import"
    fields = ["received_on", "bank_reference", "payer_name", "amount", "status", "company"]


@admin.register(BankStatementImport)
class BankStatementImportAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "file_name",
        "row_count",
        "created_count",
        "duplicate_count",
        "matched_count",
        "unmatched_display",
        "created_by",
    ]
    list_select_related = ["created_by"]
    fields = [
        "file_name",
        "file_sha256",
        "row_count",
        "created_count",
        "duplicate_count",
        "matched_count",
        "created_by",
        "created_at",
    ]
    inlines = [StatementPaymentInline]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("billing.add_bankstatementimport")

    @admin.display(description=gettext_lazy("left unmatched"))
    def unmatched_display(self, obj: BankStatementImport) -> int:
        return obj.payments.filter(status=Payment.Status.UNMATCHED).count()

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The "Import bank statement" page: upload, then row-level errors or a summary."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StatementUploadForm(request.POST or None, request.FILES or None)
        row_errors: list[Any] = []
        file_errors: list[str] = []
        statement: BankStatementImport | None = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            user: User = request.user  # type: ignore[assignment]
            try:
                statement = bank_statement_import(
                    file=upload, file_name=upload.name, actor=user, ip=client_ip(request)
                )
            except StatementFileError as exc:
                row_errors = exc.rows
            except ValidationError as exc:
                file_errors = _errors(exc)
        unmatched: QuerySet[Payment] | list[Payment] = []
        if statement is not None:
            unmatched = statement.payments.filter(status=Payment.Status.UNMATCHED)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import bank statement"),
            "form": form,
            "row_errors": row_errors,
            "row_errors_total": len(row_errors),
            "file_errors": file_errors,
            "statement": statement,
            "unmatched": unmatched,
            "columns": [(aliases[0], ", ".join(aliases[1:])) for aliases in COLUMNS.values()],
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/billing/bankstatementimport/import.html", context)
