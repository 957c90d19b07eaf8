"""The order page's section on delivery to recipients: status per recipient, resend, change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.conf import settings
from django.core.paginator import Paginator

from cards.models import DeliveryMethod, DeliveryStatus, Order, OrderLine, RecipientDelivery
from cards.selectors import delivery_summary
from cards.services import recipients
from portal import policy
from portal.policy import Action

register = template.Library()

DELIVERIES_PER_PAGE = 50


@dataclass(frozen=True)
class DeliveryRow:
    delivery: RecipientDelivery
    name: str
    email: str
    mobile: str
    can_resend: bool
    can_change: bool
    changes_left: int


def _row(delivery: RecipientDelivery, can_act: bool) -> DeliveryRow:
    masked = recipients.masked_recipient(delivery)
    open_to_change = can_act and delivery.revealed_at is None
    changes_left = max(settings.RECIPIENT_MAX_CHANGES - delivery.recipient_changes, 0)
    return DeliveryRow(
        delivery=delivery,
        name=masked["name"],
        email=masked["email"],
        mobile=masked["mobile"],
        can_resend=open_to_change
        and delivery.status != DeliveryStatus.PENDING
        and delivery.send_count < settings.RECIPIENT_MAX_SENDS,
        can_change=open_to_change and changes_left > 0,
        changes_left=changes_left,
    )


@register.filter
def masked_line_recipient(line: OrderLine) -> dict[str, str]:
    """An order line's recipient, masked as the delivery panel masks it."""
    return recipients.masked_contact(
        name=line.recipient_name, email=line.recipient_email, mobile=line.recipient_mobile
    )


@register.inclusion_tag("cards/_deliveries.html", takes_context=True)
def order_recipient_deliveries(context: template.Context, order: Order) -> dict[str, Any]:
    if order.delivery_method != DeliveryMethod.RECIPIENTS:
        return {"show": False}
    request = context.get("request")
    membership = context.get("active_membership")
    can_act = policy.can(membership, Action.RECIPIENTS_MANAGE)
    deliveries = (
        RecipientDelivery.objects.filter(order=order)
        .select_related("card")
        .order_by("line__position", "card__serial")
    )
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(
        request.GET.get("recipients_page") if request is not None else None
    )
    summary = delivery_summary(order)
    return {
        "show": True,
        "order": order,
        "request": request,
        "page": page,
        "rows": [_row(d, can_act) for d in page],
        "summary": [
            (status, label, summary[status])
            for status, label in DeliveryStatus.choices
            if summary[status]
        ],
        "total": sum(summary.values()),
        "can_act": can_act,
        "max_sends": settings.RECIPIENT_MAX_SENDS,
    }
