"""The order page's "Code downloads" panel: who downloaded the codes, when, from where and how
many downloads are left. Members whose role may download codes (``portal.policy``) see it, with
the link to the download page once the cards are ready, or the reason there is none."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from cards.models import DeliveryMethod, Order, OrderStatus
from cards.services.code_allowance import (
    code_download_allowance,
    code_download_exhausted_message,
    code_download_refusal,
)
from portal import policy
from portal.policy import Action

register = template.Library()

_SHOWN_FROM = (OrderStatus.FULFILLING, OrderStatus.FULFILLED, OrderStatus.DELIVERED)


@register.inclusion_tag("cards/_downloads.html", takes_context=True)
def order_code_downloads(context: template.Context, order: Order) -> dict[str, Any]:
    request = context.get("request")
    membership = getattr(request, "membership", None)
    if not policy.can(membership, Action.CODES_DOWNLOAD):
        return {"show": False}
    allowance = code_download_allowance(order)
    if not allowance.downloads and (
        order.delivery_method != DeliveryMethod.FILE or order.status not in _SHOWN_FROM
    ):
        return {"show": False}
    # Whenever there is no button, the panel says why.
    unavailable = code_download_refusal(order)
    if not unavailable and allowance.exhausted:
        unavailable = code_download_exhausted_message(order, allowance)
    return {
        "show": True,
        "downloads": allowance.newest_first,
        "limit": allowance.limit,
        "remaining": allowance.remaining,
        "unavailable": unavailable,
        "download_url": (
            "" if unavailable else reverse("cards:code_download", kwargs={"number": order.number})
        ),
    }
