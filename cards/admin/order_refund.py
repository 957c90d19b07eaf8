"""Refund to the buyer from an order's admin page: unused cards voided and credited back to the
company (``cards.services.card_service.order_refund_unused_cards``). The operator gives how
many unused cards (the first by serial) or which serials, and a reason.

It replaces the orders' registration (``cards.admin.order_export``) with one that adds the page.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cards.admin.card_service import _errors
from cards.admin.order_export import OrderExportAdmin
from cards.models import Card, Order
from cards.services.card_service import order_refund_unused_cards, refund_summary, unused_cards
from cards.services.card_service.refunds import REFUNDABLE_ORDER_STATUSES
from portal.services.audit import client_ip

REFUND_PERMISSION = "cards.refund_unused_cards"
_SERIAL_SPLIT = re.compile(r"[\s,;]+")


class RefundForm(forms.Form):
    count = forms.IntegerField(
        label=gettext_lazy("How many unused cards"),
        min_value=1,
        required=False,
        help_text=gettext_lazy("The first unused cards by serial. Or list the serials below."),
    )
    serials = forms.CharField(
        label=gettext_lazy("Serials"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        help_text=gettext_lazy("16-digit serials, one per line (or separated by commas)."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order

    def clean_serials(self) -> list[Card]:
        typed = [s.replace("-", "") for s in _SERIAL_SPLIT.split(self.cleaned_data["serials"]) if s]
        wrong = [s for s in typed if not (s.isascii() and s.isdigit() and len(s) == 16)]
        if wrong:
            raise forms.ValidationError(
                _("Not a 16-digit serial: %(values)s") % {"values": ", ".join(wrong[:5])}
            )
        cards = list(
            Card.objects.filter(batch__order=self.order, serial__in=[int(s) for s in typed]).only(
                "pk", "serial"
            )
        )
        missing = sorted(set(typed) - {card.serial_display for card in cards})
        if missing:
            raise forms.ValidationError(
                _("Not a card of order %(number)s: %(values)s")
                % {"number": self.order.number, "values": ", ".join(missing[:5])}
            )
        return cards

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("count")) == bool(data.get("serials")):
            raise forms.ValidationError(_("Give either how many cards or their serials."))
        return data


admin.site.unregister(Order)


@admin.register(Order)
class OrderRefundAdmin(OrderExportAdmin):
    """The orders admin with the refund of unused cards to the buyer."""

    change_form_template = "admin/cards/order/refund_change_form.html"
    refund_template = "admin/cards/order/refund.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/refund-unused/",
                self.admin_site.admin_view(self.refund_view),
                name="cards_order_refund",
            ),
            *super().get_urls(),
        ]

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        order = self.get_object(request, object_id)
        link = None
        if (
            order is not None
            and order.status in REFUNDABLE_ORDER_STATUSES
            and self.has_refund_permission(request)
        ):
            link = reverse("admin:cards_order_refund", args=[order.pk])
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "refund_link": link},
        )

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        order = (
            Order.objects.select_related("company", "invoice").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if order is None:
            raise Http404
        back = reverse("admin:cards_order_change", args=[order.pk])
        form = RefundForm(request.POST or None, order=order)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                outcome = order_refund_unused_cards(
                    order=order,
                    cards=form.cleaned_data["serials"] or None,
                    count=form.cleaned_data["count"] or None,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(
                    request,
                    _("Order %(number)s: %(summary)s")
                    % {"number": order.number, "summary": refund_summary(outcome)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Refund unused cards of order %(number)s") % {"number": order.number},
            "order": order,
            "unused": unused_cards(order).count(),
            "form": form,
            "errors": errors,
            "back": back,
        }
        return TemplateResponse(request, self.refund_template, context)
