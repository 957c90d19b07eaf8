"""Operators' admin for allocations of payments to invoices: evidence, never edited, only
reversed (with a reason, audited with the operator and their IP) by a new allocation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin.base import ReadOnlyAdmin
from billing.admin.payments import ALLOCATE_PERMISSION, _errors
from billing.models import Allocation
from billing.money import format_cny
from billing.services.payments import allocation_reverse
from portal.services.audit import client_ip


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


# --- Allocations --------------------------------------------------------------------------------


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "company",
        "kind",
        "method",
        "payment",
        "invoice",
        "amount_display",
        "reverses",
        "created_by",
    ]
    list_filter = ["kind", "method", "created_at"]
    search_fields = ["company__legal_name", "invoice__number", "payment__bank_reference"]
    list_select_related = ["company", "payment", "invoice", "created_by", "reverses"]
    fields = [
        "created_at",
        "company",
        "kind",
        "method",
        "payment",
        "invoice",
        "amount",
        "reverses",
        "note",
        "created_by",
    ]

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/reverse/",
                self.admin_site.admin_view(self.reverse_view),
                name="billing_allocation_reverse",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_display(self, obj: Allocation) -> str:
        return format_cny(obj.amount)

    def reverse_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(ALLOCATE_PERMISSION):
            raise PermissionDenied
        allocation = (
            Allocation.objects.select_related("payment", "invoice", "company")
            .filter(pk=object_id)
            .first()
            if object_id.isdigit()
            else None
        )
        if allocation is None:
            raise Http404
        form = ReasonForm(request.POST or None)
        errors: list[str] = []
        back = (
            reverse("admin:billing_payment_allocate", args=[allocation.payment_id])
            if allocation.payment_id
            else reverse("admin:billing_allocation_changelist")
        )
        if request.method == "POST" and form.is_valid():
            try:
                allocation_reverse(
                    allocation=allocation,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                self.message_user(
                    request,
                    _("Allocation of %(amount)s reversed.")
                    % {"amount": format_cny(allocation.amount)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Reverse an allocation"),
            "allocation": allocation,
            "amount": format_cny(allocation.amount),
            "form": form,
            "errors": errors,
            "back": back,
        }
        return TemplateResponse(request, "admin/billing/allocation/reverse.html", context)
