"""Operators' admin for orders (read-only; a pending order's page links to its risk review).
Purchase registrations: ``cards.admin.register``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin, ReadOnlyInline
from billing.money import format_cny
from cards.models import Order, OrderLine, OrderStatus
from cards.services.workflow import RISK_FLAG_LABELS

REVIEW_PERMISSION = "cards.review_order"

# --- Orders --------------------------------------------------------------------------------------


def risk_flag_labels(flags: Iterable[str]) -> str:
    return ", ".join(str(RISK_FLAG_LABELS.get(flag, flag)) for flag in flags)


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = [
        "position",
        "product",
        "face_value",
        "quantity",
        "unit_price",
        "amount",
        "recipient_name",
        "employee_id",
        "cost_center",
    ]


ORDER_FIELDS = (
    "number",
    "company",
    "status",
    "payment_method",
    "delivery_method",
    "client_reference",
    "note",
    "face_total",
    "total",
    "card_count",
    "line_count",
    "needs_approval",
    "risk_flags_display",
    "registration",
    "created_by",
    "created_at",
    "submitted_at",
    "approved_by",
    "approved_at",
    "reviewed_by",
    "reviewed_at",
    "funded_at",
    "closed_at",
    "closing_reason",
    "invoice",
    "proforma",
)


class OrderAdminBase(ReadOnlyAdmin):
    fields = ORDER_FIELDS
    inlines = [OrderLineInline]
    list_select_related = ["company", "created_by"]
    search_fields = ["number", "client_reference", "company__legal_name"]
    change_form_template = "admin/cards/order/change_form.html"

    @admin.display(description=_("risk flags"))
    def risk_flags_display(self, obj: Order) -> str:
        return risk_flag_labels(obj.risk_flags) or "-"

    @admin.display(description=_("price"), ordering="total")
    def total_display(self, obj: Order) -> str:
        return format_cny(obj.total)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        order = self.get_object(request, object_id)
        review_links = None
        if (
            order is not None
            and order.status == OrderStatus.PENDING_REVIEW
            and self.has_review_permission(request)
        ):
            review_links = {
                "approve": reverse("admin:cards_riskrevieworder_approve", args=[order.pk]),
                "reject": reverse("admin:cards_riskrevieworder_reject", args=[order.pk]),
            }
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "review_links": review_links},
        )


@admin.register(Order)
class OrderAdmin(OrderAdminBase):
    list_display = [
        "number",
        "company",
        "status",
        "payment_method",
        "total_display",
        "card_count",
        "created_by",
        "created_at",
        "submitted_at",
    ]
    # "Sandbox of: empty" lists real orders only (test mode, docs/api.md).
    list_filter = [
        "status",
        "payment_method",
        "delivery_method",
        "created_at",
        ("company__sandbox_of", admin.EmptyFieldListFilter),
    ]
    date_hierarchy = "created_at"
