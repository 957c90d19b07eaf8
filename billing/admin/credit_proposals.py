"""The second operator's queue for credit lines set or raised above
``KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE``: approved by another operator (never the proposer), which
sets the line, or rejected with a reason. The services decide
(``billing.services.credit_proposals``)."""

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

from billing.admin.base import ReadOnlyAdmin, money_column
from billing.models import CreditLineProposal
from billing.money import format_cny
from billing.services.credit_proposals import (
    credit_line_proposal_approve,
    credit_line_proposal_reject,
)
from portal.services.audit import client_ip

DECIDE_PERMISSION = "billing.decide_credit_line_proposal"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept with the proposal and the audit trail."),
    )


def _errors(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, PermissionDenied):
        return [str(exc) or _("Not allowed.")]
    return list(exc.messages)


@admin.register(CreditLineProposal)
class CreditLineProposalAdmin(ReadOnlyAdmin):
    list_display = [
        "requested_at",
        "company",
        money_column(CreditLineProposal, "previous_limit"),
        money_column(CreditLineProposal, "limit"),
        "requested_by",
        "status",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status"]
    list_select_related = ["company", "requested_by", "decided_by"]
    search_fields = ["company__legal_name", "company__credit_code"]
    fields = [
        "company",
        "previous_limit",
        "limit",
        "net_days",
        "grace_days",
        "line_status",
        "reason",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_note",
    ]
    change_form_template = "admin/billing/creditlineproposal/change_form.html"
    decide_template = "admin/billing/creditlineproposal/decide.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="billing_creditlineproposal_approve",
            ),
            path(
                "<int:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="billing_creditlineproposal_reject",
            ),
            *super().get_urls(),
        ]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(DECIDE_PERMISSION))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        links = None
        if (
            obj is not None
            and obj.status == CreditLineProposal.Status.PENDING
            and self.has_decide_permission(request)
        ):
            links = {
                "approve": reverse("admin:billing_creditlineproposal_approve", args=[obj.pk]),
                "reject": reverse("admin:billing_creditlineproposal_reject", args=[obj.pk]),
            }
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "decide_links": links},
        )

    def _proposal(self, request: HttpRequest, object_id: int) -> CreditLineProposal:
        if not self.has_decide_permission(request):
            raise PermissionDenied
        found = self.get_queryset(request).select_related("company").filter(pk=object_id).first()
        if found is None:
            raise Http404
        return found

    def _back(self, proposal: CreditLineProposal) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:billing_creditlineproposal_change", args=[proposal.pk])
        )

    def approve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        proposal = self._proposal(request, object_id)
        errors: list[str] = []
        if request.method == "POST":
            try:
                credit_line_proposal_approve(
                    proposal=proposal,
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(
                    request,
                    _("Approved: the credit line of %(company)s is now %(limit)s.")
                    % {"company": proposal.company.legal_name, "limit": format_cny(proposal.limit)},
                    messages.SUCCESS,
                )
                return self._back(proposal)
        return self._decide_page(request, proposal, approve=True, form=None, errors=errors)

    def reject_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        proposal = self._proposal(request, object_id)
        form = ReasonForm(request.POST or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                credit_line_proposal_reject(
                    proposal=proposal,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(
                    request,
                    _("Proposal rejected; the credit line of %(company)s is unchanged.")
                    % {"company": proposal.company.legal_name},
                    messages.SUCCESS,
                )
                return self._back(proposal)
        return self._decide_page(request, proposal, approve=False, form=form, errors=errors)

    def _decide_page(
        self,
        request: HttpRequest,
        proposal: CreditLineProposal,
        *,
        approve: bool,
        form: ReasonForm | None,
        errors: list[str],
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Approve a credit line") if approve else _("Reject a credit line"),
            "proposal": proposal,
            "previous": format_cny(proposal.previous_limit)
            if proposal.previous_limit is not None
            else _("No credit line"),
            "limit": format_cny(proposal.limit),
            "approve": approve,
            "form": form,
            "errors": errors,
            "back": reverse("admin:billing_creditlineproposal_change", args=[proposal.pk]),
        }
        return TemplateResponse(request, self.decide_template, context)
