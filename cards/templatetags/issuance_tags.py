"""The live progress panel of the order page: one bar per batch, refreshed by ``app.js`` from
``cards:order_progress`` while the order's cards are being generated."""

from __future__ import annotations

from typing import Any

from django import template

from cards.models import Order
from cards.selectors import order_progress_data

register = template.Library()


@register.inclusion_tag("cards/_progress.html")
def order_progress(order: Order) -> dict[str, Any]:
    """Nothing for an order without batches (not funded yet, or closed before fulfilment)."""
    progress = order_progress_data(order) if order.pk else None
    if not progress or not progress["batches"]:
        return {"progress": None}
    return {"order": order, "progress": progress}
