"""Operators' risk review queue: orders held for an operator, approved or rejected (with a reason)
one at a time from an order's page or several at once from the queue.

Every change of state goes through the services (``cards.services.workflow``); the admin only
chooses the order and collects the operator's reason.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from billing.money import format_cny
from cards.admin.orders import OrderAdminBase, risk_flag_labels
from cards.models import Order, OrderStatus, RiskReviewOrder
from cards.services.workflow import order_review_approve, order_review_reject
from portal.models import User
from portal.services.audit import client_ip

# --- Risk review queue ---------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The buyer sees this reason in the portal and in the email."),
    )


@admin.register(RiskReviewOrder)
class RiskReviewOrderAdmin(OrderAdminBase):
    """Orders held for an operator: over the platform limit, too many or too much in a day, or
    several just under a threshold. Clearing one funds it (invoice or pro-forma); rejecting one
    releases its held credit and tells the buyer why."""

    list_display = [
        "number",
        "company",
        "total_display",
        "payment_method",
        "risk_flags_display",
        "submitted_at",
        "created_by",
    ]
    list_filter = ["payment_method"]
    ordering = ["submitted_at", "id"]
    actions = ["approve_selected", "reject_selected"]
    review_template = "admin/cards/riskrevieworder/review.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RiskReviewOrder]:
        return super().get_queryset(request).filter(status=OrderStatus.PENDING_REVIEW)

    def get_urls(self) -> list[Any]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="{}_{}_reject".format(*info),
            ),
            *super().get_urls(),
        ]

    # -- one order at a time, from its page

    def _review_object(self, request: HttpRequest, object_id: str) -> Order:
        if not self.has_review_permission(request):
            raise PermissionDenied
        # Any order: one that has left the queue gets a clear message from the service.
        order = (
            Order.objects.select_related("company").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if order is None:
            raise Http404
        return order

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._review_object(request, object_id)
        if request.method == "POST":
            self._decide(request, [order], approve=True)
            return HttpResponseRedirect(reverse("admin:cards_riskrevieworder_changelist"))
        return self._review_page(request, [order], approve=True, form=None)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._review_object(request, object_id)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._decide(request, [order], approve=False, reason=form.cleaned_data["reason"])
            return HttpResponseRedirect(reverse("admin:cards_riskrevieworder_changelist"))
        return self._review_page(request, [order], approve=False, form=form)

    # -- several at once, from the queue

    @admin.action(description=_("Approve the selected orders"), permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._decide(request, list(queryset.order_by("pk")), approve=True)

    @admin.action(description=_("Reject the selected orders…"), permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        orders = list(queryset.order_by("pk"))
        form = ReasonForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            self._decide(request, orders, approve=False, reason=form.cleaned_data["reason"])
            return None
        return self._review_page(request, orders, approve=False, form=form, bulk=True)

    def _review_page(
        self,
        request: HttpRequest,
        orders: list[Order],
        *,
        approve: bool,
        form: ReasonForm | None,
        bulk: bool = False,
    ) -> TemplateResponse:
        title = _("Approve orders in risk review") if approve else _("Reject orders in risk review")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "orders": [
                {
                    "order": order,
                    "total": format_cny(order.total),
                    "flags": risk_flag_labels(order.risk_flags) or "-",
                }
                for order in orders
            ],
            "approve": approve,
            "form": form,
            "bulk": bulk,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, self.review_template, context)

    def _decide(
        self, request: HttpRequest, orders: list[Order], *, approve: bool, reason: str = ""
    ) -> None:
        operator: User = request.user  # type: ignore[assignment]
        ip = client_ip(request)
        for order in orders:
            try:
                if approve:
                    done = order_review_approve(order=order, operator=operator, ip=ip)
                else:
                    done = order_review_reject(order=order, operator=operator, reason=reason, ip=ip)
            except (ValidationError, PermissionDenied) as exc:
                detail = (
                    " ".join(exc.messages)
                    if isinstance(exc, ValidationError)
                    else str(exc) or _("not allowed.")
                )
                self.message_user(
                    request,
                    _("Order %(number)s: %(error)s") % {"number": order.number, "error": detail},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                (
                    _("Order %(number)s cleared; it is now %(status)s.")
                    if approve
                    else _("Order %(number)s rejected; the buyer is told why.")
                )
                % {"number": done.number, "status": done.get_status_display()},
                messages.SUCCESS,
            )
