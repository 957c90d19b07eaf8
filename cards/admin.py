"""Operators' admin for the catalog, orders, purchase registrations and the risk review queue.

Every change of state goes through the services (``cards.services.workflow``); the admin only
chooses the order and collects the operator's reason.
"""

from __future__ import annotations

from collections.abc import Iterable
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

from billing.admin import ReadOnlyAdmin, ReadOnlyInline
from billing.money import format_cny
from cards.models import (
    CardProduct,
    Order,
    OrderLine,
    OrderStatus,
    PurchaseRegistration,
    RiskReviewOrder,
)
from cards.services.workflow import RISK_FLAG_LABELS, order_review_approve, order_review_reject
from portal.models import User
from portal.services.audit import client_ip

REVIEW_PERMISSION = "cards.review_order"


# --- Catalog -------------------------------------------------------------------------------------


class CardProductForm(forms.ModelForm):
    """Face values typed as "100, 200, 500" rather than JSON; the rules are in the model's
    ``clean`` (the prepaid card caps and validity, each error naming its rule)."""

    face_values = forms.CharField(
        label=_("face values"),
        required=False,
        help_text=_("Separate values with commas, such as 100, 200, 500; leave empty for a range."),
    )

    class Meta:
        model = CardProduct
        fields = [
            "name",
            "name_en",
            "description",
            "card_type",
            "face_values",
            "face_min",
            "face_max",
            "face_step",
            "validity_months",
            "active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.face_values:
            self.initial["face_values"] = ", ".join(
                f"{value:f}" for value in self.instance.listed_face_values()
            )

    def clean_face_values(self) -> list[str]:
        text = self.cleaned_data.get("face_values") or ""
        for separator in (
            "\uff0c",
            "\u3001",
            ";",
            "\uff1b",
            "\n",
        ):  # full-width comma, ideographic comma, semicolons
            text = text.replace(separator, ",")
        return [part.strip() for part in text.split(",") if part.strip()]


@admin.register(CardProduct)
class CardProductAdmin(admin.ModelAdmin):
    form = CardProductForm
    list_display = [
        "name",
        "name_en",
        "card_type",
        "face_values_label",
        "validity_months",
        "active",
    ]
    list_filter = ["card_type", "active"]
    search_fields = ["name", "name_en"]
    readonly_fields = ["public_id", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Orders keep pointing at their products: take a product off sale instead.
        return False

    @admin.display(description=_("face values"))
    def face_values_label(self, obj: CardProduct) -> str:
        return obj.face_values_label


# --- Purchase registrations ----------------------------------------------------------------------


@admin.register(PurchaseRegistration)
class PurchaseRegistrationAdmin(ReadOnlyAdmin):
    """Kept at least five years, never edited or deleted; the ID number only ever masked."""

    list_display = ["created_at", "company_name", "agent_name", "id_type", "id_number_masked"]
    list_filter = ["id_type"]
    search_fields = ["company_name", "credit_code", "agent_name"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "company",
        "company_name",
        "credit_code",
        "agent_name",
        "id_type",
        "id_number_masked",
        "contact_phone",
        "created_by",
        "created_at",
    ]


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
    list_filter = ["status", "payment_method", "delivery_method", "created_at"]
    date_hierarchy = "created_at"


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
