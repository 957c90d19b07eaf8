"""The order page's "Code downloads" panel: who downloaded the codes, when, from where and how
many downloads are left. Owners and finance members see it; finance members get the link to
the download page once the cards are ready."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse

from cards.models import CodeDownload, DeliveryMethod, Order, OrderStatus
from cards.services.code_export import DOWNLOAD_ROLES, code_download_refusal
from portal.models import Role

register = template.Library()

# Roles that see who downloaded an order's codes.
DOWNLOAD_HISTORY_ROLES = (Role.OWNER, *DOWNLOAD_ROLES)
_SHOWN_FROM = (OrderStatus.FULFILLING, OrderStatus.FULFILLED, OrderStatus.DELIVERED)


@register.inclusion_tag("cards/_downloads.html", takes_context=True)
def order_code_downloads(context: template.Context, order: Order) -> dict[str, Any]:
    request = context.get("request")
    membership = getattr(request, "membership", None)
    role = membership.role if membership is not None else None
    if role not in DOWNLOAD_HISTORY_ROLES:
        return {"show": False}
    downloads = list(
        CodeDownload.objects.filter(order=order).select_related("user").order_by("-created_at")
    )
    if not downloads and (
        order.delivery_method != DeliveryMethod.FILE or order.status not in _SHOWN_FROM
    ):
        return {"show": False}
    limit = settings.CODE_DOWNLOAD_LIMIT
    remaining = max(limit - len(downloads), 0)
    can_download = role in DOWNLOAD_ROLES and remaining > 0 and not code_download_refusal(order)
    return {
        "show": True,
        "downloads": downloads,
        "limit": limit,
        "remaining": remaining,
        "download_url": (
            reverse("cards:code_download", kwargs={"number": order.number}) if can_download else ""
        ),
    }
