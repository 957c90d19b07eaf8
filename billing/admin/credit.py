"""Operators' admin for credit lines, saved through their service (validated, audited with the
operator's IP), and the credit held for orders (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.admin.base import ReadOnlyAdmin, _service_errors, money_column
from billing.models import CreditLine, CreditLineProposal, CreditReservation
from billing.money import format_cny
from billing.services.credit import (
    CreditPosition,
    credit_line_validate,
    credit_position,
)
from billing.services.credit_proposals import credit_line_change
from portal.services.audit import client_ip

# --- Credit lines --------------------------------------------------------------------------------


class CreditLineForm(forms.ModelForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_(
            "Why the line is set or changed. A line set or raised above the dual-control amount "
            "waits for a second operator, who reads this."
        ),
    )

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
        return [
            "company",
            "used_display",
            "available_display",
            "past_due_display",
            "proposal_display",
            "updated_at",
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Suspend a line instead: invoices and the audit trail refer to it.
        return False

    def save_model(self, request: HttpRequest, obj: CreditLine, form: Any, change: bool) -> None:
        outcome = credit_line_change(
            company=obj.company,
            limit=obj.limit,
            net_days=obj.net_days,
            grace_days=obj.grace_days,
            status=obj.status,
            reason=form.cleaned_data.get("reason", ""),
            actor=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
        if outcome.proposal is not None:
            # Nothing changed yet: the admin must not log or announce a saved line.
            request._credit_line_proposal = outcome.proposal  # type: ignore[attr-defined]
            if outcome.line is not None:
                obj.refresh_from_db()
            return
        assert outcome.line is not None
        obj.pk = outcome.line.pk
        obj.updated_at = outcome.line.updated_at

    def _proposed(self, request: HttpRequest) -> HttpResponse | None:
        proposal = getattr(request, "_credit_line_proposal", None)
        if proposal is None:
            return None
        self.message_user(
            request,
            gettext(
                "The credit line of %(company)s is above the dual-control amount: it waits for "
                "a second operator's approval and has not changed yet."
            )
            % {"company": proposal.company.legal_name},
            messages.WARNING,
        )
        return HttpResponseRedirect(
            reverse("admin:billing_creditlineproposal_change", args=[proposal.pk])
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_credit_line_proposal", None) is not None:
            return None
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_credit_line_proposal", None) is not None:
            return None
        return super().log_change(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        return self._proposed(request) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        return self._proposed(request) or super().response_change(request, obj)

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

    @admin.display(description=_("waiting for a second operator"))
    def proposal_display(self, obj: CreditLine) -> str:
        proposal = CreditLineProposal.objects.filter(
            company_id=obj.company_id, status=CreditLineProposal.Status.PENDING
        ).first()
        if proposal is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:billing_creditlineproposal_change", args=[proposal.pk]),
            format_cny(proposal.limit),
        )

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
