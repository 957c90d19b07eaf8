"""Operators' admin for breakage decisions: an operator proposes, a second operator approves
(posting the entry) or rejects, a posted decision can be reversed, and each has its report.

Every change goes through ``cards.services.expiry``; the forms and page helpers are shared with
the expired cards' admin (``cards.admin.expiry``).
"""

from __future__ import annotations

import tempfile
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin
from billing.admin.base import money_column
from billing.money import format_cny
from cards.admin.expiry import (
    PROPOSE_PERMISSION,
    REVIEW_PERMISSION,
    BreakageProposeForm,
    BreakageReverseForm,
    BreakageReviewForm,
    form_page,
    show_refusal,
)
from cards.models import BreakageDecision, BreakageStatus
from cards.services import expiry
from cards.services.expiry.report import CONTENT_TYPES as REPORT_CONTENT_TYPES
from cards.services.expiry.report import FORMATS as REPORT_FORMATS
from portal.models import User
from portal.services.audit import client_ip

# --- Breakage decisions -------------------------------------------------------------------------


@admin.register(BreakageDecision)
class BreakageDecisionAdmin(ReadOnlyAdmin):
    """Breakage is never automatic: an operator proposes, a second operator approves (posting the
    entry) or rejects, and a posted decision can be reversed. Each has its report of cards."""

    list_display = [
        "proposed_at",
        "status",
        "card_count",
        money_column(BreakageDecision, "total"),
        "expired_before",
        "proposed_by",
        "reviewed_by",
    ]
    list_filter = ["status"]
    date_hierarchy = "proposed_at"
    fields = [
        "public_id",
        "status",
        "expired_before",
        "card_count",
        "total_display",
        "recognised_display",
        "reason",
        "proposed_by",
        "proposed_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
        "entry",
        "reversed_by",
        "reversed_at",
        "reversal_reason",
        "reversal_entry",
    ]
    readonly_fields = ["total_display", "recognised_display"]
    change_list_template = "admin/cards/breakagedecision/change_list.html"
    change_form_template = "admin/cards/breakagedecision/change_form.html"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("propose/", view(self.propose_view), name="cards_breakagedecision_propose"),
            path(
                "<int:object_id>/review/",
                view(self.review_view),
                name="cards_breakagedecision_review",
            ),
            path(
                "<int:object_id>/reverse/",
                view(self.reverse_view),
                name="cards_breakagedecision_reverse",
            ),
            path(
                "<int:object_id>/report.<str:fmt>",
                view(self.report_view),
                name="cards_breakagedecision_report",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("total"))
    def total_display(self, obj: BreakageDecision) -> str:
        return format_cny(obj.total)

    @admin.display(description=_("still recognised as income"))
    def recognised_display(self, obj: BreakageDecision) -> str:
        return format_cny(expiry.breakage_report_totals(obj)["recognised"])

    def _allowed(self, request: HttpRequest, permission: str) -> bool:
        return bool(request.user.is_active and request.user.is_staff) and request.user.has_perm(
            permission
        )

    def _decision(self, request: HttpRequest, object_id: int, permission: str) -> BreakageDecision:
        if not self._allowed(request, permission):
            raise PermissionDenied
        decision = BreakageDecision.objects.filter(pk=object_id).first()
        if decision is None:
            raise Http404
        return decision

    def _summary(self, decision: BreakageDecision) -> list[tuple[str, str]]:
        return [
            (str(_("Status")), str(decision.get_status_display())),
            (
                str(_("Cards expired before")),
                timezone.localtime(decision.expired_before).date().isoformat(),
            ),
            (str(_("Cards")), str(decision.card_count)),
            (str(_("Total")), format_cny(decision.total)),
            (str(_("Proposed by")), f"{decision.proposed_by} · {decision.reason}"),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "propose_url": reverse("admin:cards_breakagedecision_propose")
            if self._allowed(request, PROPOSE_PERMISSION)
            else "",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        decision = (
            BreakageDecision.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        )
        links: dict[str, str] = {}
        if decision is not None:
            links["csv"] = reverse("admin:cards_breakagedecision_report", args=[decision.pk, "csv"])
            links["xlsx"] = reverse(
                "admin:cards_breakagedecision_report", args=[decision.pk, "xlsx"]
            )
            if self._allowed(request, REVIEW_PERMISSION):
                if decision.status == BreakageStatus.PROPOSED:
                    links["review"] = reverse(
                        "admin:cards_breakagedecision_review", args=[decision.pk]
                    )
                if decision.status == BreakageStatus.POSTED:
                    links["reverse"] = reverse(
                        "admin:cards_breakagedecision_reverse", args=[decision.pk]
                    )
        return super().change_view(
            request, object_id, form_url, {"breakage_links": links, **(extra_context or {})}
        )

    def propose_view(self, request: HttpRequest) -> HttpResponse:
        if not self._allowed(request, PROPOSE_PERMISSION):
            raise PermissionDenied
        form = BreakageProposeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                decision = expiry.breakage_propose(
                    operator=operator, reason=form.cleaned_data["reason"], ip=client_ip(request)
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                self.message_user(
                    request,
                    _(
                        "Breakage proposed: %(count)s cards, %(total)s. A second operator must "
                        "review it before anything is posted."
                    )
                    % {"count": decision.card_count, "total": format_cny(decision.total)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:cards_breakagedecision_change", args=[decision.pk])
                )
        preview = expiry.breakage_preview()
        return form_page(
            self,
            request,
            title=str(_("Propose breakage")),
            form=form,
            intro=[
                str(
                    _(
                        "Breakage recognises as income the balances of bearer cards expired "
                        "longer ago than the holding period (%(months)s months). The cards keep "
                        "their balances: a holder who comes back gets the card reactivated, and "
                        "the breakage for that card is reversed."
                    )
                    % {"months": settings.BREAKAGE_HOLDING_MONTHS}
                ),
                str(_("Nothing is posted until a second operator approves the proposal.")),
            ],
            summary=[
                (
                    str(_("Cards expired before")),
                    timezone.localtime(preview.expired_before).date().isoformat(),
                ),
                (str(_("Cards")), str(preview.count)),
                (str(_("Total")), format_cny(preview.total)),
            ],
            submit=str(_("Propose")),
        )

    def review_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        decision = self._decision(request, object_id, REVIEW_PERMISSION)
        form = BreakageReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reviewer: User = request.user  # type: ignore[assignment]
            approve = form.cleaned_data["decision"] == "approve"
            try:
                decision = expiry.breakage_review(
                    decision_id=decision.pk,
                    reviewer=reviewer,
                    approve=approve,
                    note=form.cleaned_data["note"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                self.message_user(
                    request,
                    (
                        _("Breakage of %(total)s posted.")
                        if approve
                        else _("Breakage proposal of %(total)s rejected; nothing was posted.")
                    )
                    % {"total": format_cny(decision.total)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:cards_breakagedecision_change", args=[decision.pk])
                )
        return form_page(
            self,
            request,
            title=str(_("Review a breakage proposal")),
            form=form,
            intro=[
                str(
                    _(
                        "Approving posts: expired-balance liability debited, breakage income "
                        "credited, for the total below. You cannot review your own proposal."
                    )
                )
            ],
            summary=self._summary(decision),
            submit=str(_("Save the decision")),
        )

    def reverse_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        decision = self._decision(request, object_id, REVIEW_PERMISSION)
        form = BreakageReverseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                decision = expiry.breakage_reverse(
                    decision_id=decision.pk,
                    operator=operator,
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                self.message_user(
                    request,
                    _("Breakage reversed with a reversing entry; the original entry stays."),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:cards_breakagedecision_change", args=[decision.pk])
                )
        return form_page(
            self,
            request,
            title=str(_("Reverse a breakage decision")),
            form=form,
            intro=[
                str(
                    _(
                        "A reversing entry moves what is still recognised back from breakage "
                        "income to the expired-balance liability. The original entry is kept."
                    )
                )
            ],
            summary=self._summary(decision),
            submit=str(_("Reverse")),
        )

    def report_view(self, request: HttpRequest, object_id: int, fmt: str) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        decision = BreakageDecision.objects.filter(pk=object_id).first()
        if decision is None or fmt not in REPORT_FORMATS:
            raise Http404
        handle = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
        expiry.breakage_report_write(decision, fmt, handle)
        handle.seek(0)
        day = timezone.localtime(decision.proposed_at).date().isoformat()
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"breakage-{day}-{decision.pk}.{fmt}",
            content_type=REPORT_CONTENT_TYPES[fmt],
        )


__all__ = ["BreakageDecisionAdmin"]
