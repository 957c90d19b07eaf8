"""Operators' company pages: details saved through the company services, the members and the
status history shown read-only, and company KYC (``portal.admin.kyc``): the credit code's check,
the documents, the review decisions with maker-checker for activation."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.admin.kyc import CompanyKycMixin
from portal.kyc_selectors import companies_awaiting_kyc
from portal.models import (
    Company,
    CompanyDocument,
    CompanyReview,
    CompanyStatusChange,
    Membership,
    User,
)
from portal.services.audit import client_ip
from portal.services.companies import company_create, company_update
from portal.validators import credit_code_check_character, validate_credit_code


class _ShownInline(admin.TabularInline):
    """Shown, never added, changed or deleted here."""

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


class MembershipInline(_ShownInline):
    """Owners manage members in the portal, through the audited services."""

    model = Membership
    fields = ["user", "role", "created_at"]


class StatusChangeInline(_ShownInline):
    """Every move of the company's status (``company_set_status`` writes them)."""

    model = CompanyStatusChange
    fields = ["changed_at", "from_status", "to_status", "reason", "changed_by", "approved_by"]
    verbose_name_plural = gettext_lazy("status history")


class ReviewInline(_ShownInline):
    model = CompanyReview
    fields = [
        "decided_at",
        "decision",
        "reason",
        "decided_by",
        "status",
        "checked_by",
        "checked_at",
        "check_note",
    ]


class DocumentInline(_ShownInline):
    """Every document uploaded, replacements included; the content only through the audited
    download link."""

    model = CompanyDocument
    fields = ["uploaded_at", "kind", "download", "size", "sha256", "uploaded_by"]

    @admin.display(description=gettext_lazy("file"))
    def download(self, obj: CompanyDocument) -> str:
        return format_html(
            '<a href="{}" class="kyc-document-link">{}</a>',
            CompanyKycMixin.document_url(obj),
            obj.original_name,
        )


class KycQueueFilter(admin.SimpleListFilter):
    """``?kyc=waiting``: the operators' KYC queue (pending companies, and approvals waiting for
    a second operator), the list the console's work queue links to."""

    title = gettext_lazy("KYC review")
    parameter_name = "kyc"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("waiting", gettext_lazy("Waiting for review"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "waiting":
            return queryset.filter(pk__in=companies_awaiting_kyc().values("pk"))
        return queryset


@admin.register(Company)
class CompanyAdmin(CompanyKycMixin, admin.ModelAdmin):
    list_display = ["legal_name", "credit_code", "status", "kyc_state", "sandbox_of", "created_at"]
    # A sandbox (test mode, docs/api.md) has a "sandbox of"; "Empty" lists the real companies.
    list_filter = ["status", KycQueueFilter, ("sandbox_of", admin.EmptyFieldListFilter)]
    search_fields = ["legal_name", "credit_code"]
    readonly_fields = [
        "public_id",
        "status",
        "credit_code_check",
        "kyc_state",
        "sandbox_of",
        "created_at",
    ]
    inlines = [MembershipInline, DocumentInline, ReviewInline, StatusChangeInline]
    change_form_template = "admin/portal/company/change_form.html"

    @admin.display(description=gettext_lazy("credit code check"))
    def credit_code_check(self, obj: Company) -> str:
        if not obj.credit_code:
            return "-"
        try:
            validate_credit_code(obj.credit_code)
        except ValidationError as exc:
            return format_html(
                '<span class="credit-code-check errornote">{}</span>', exc.messages[0]
            )
        return format_html(
            '<span class="credit-code-check">✔ {}</span>',
            _("Verified: the check character %(char)s matches GB 32100-2015.")
            % {"char": credit_code_check_character(obj.credit_code[:17])},
        )

    def save_model(self, request: HttpRequest, obj: Company, form: Any, change: bool) -> None:
        # The form has checked the values and set them on ``obj``; the services write them.
        actor: User = request.user  # type: ignore[assignment]
        if change:
            saved = company_update(
                company=obj,
                changes={name: getattr(obj, name) for name in form.changed_data},
                actor=actor,
                ip=client_ip(request),
            )
        else:
            saved = company_create(
                legal_name=obj.legal_name,
                credit_code=obj.credit_code,
                owner=None,
                created_by=actor,
                contact_name=obj.contact_name,
                contact_email=obj.contact_email,
                contact_phone=obj.contact_phone,
                billing_email=obj.billing_email,
                approval_threshold=obj.approval_threshold,
                language=obj.language,
                ip=client_ip(request),
            )
        # The admin goes on with ``obj`` (the inlines, the change message, the redirect).
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()
