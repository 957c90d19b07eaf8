from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from billing import selectors
from billing.models import Invoice
from billing.money import format_cny, quantize
from billing.services.credit import credit_position
from portal import policy
from portal.access import company_objects
from portal.policy import Action

register = template.Library()


@register.filter
def cny(value: Decimal | None) -> str:
    """¥1,234.50, or a dash for no amount."""
    if value is None or value == "":
        return "—"
    return format_cny(Decimal(value))


@register.filter
def cny_unit(value: Decimal | None) -> str:
    """A unit price: cents as usual, and its stored four places when a rate leaves fractions of
    a cent (¥97.6543), so that quantity times unit price visibly gives the line amount."""
    if value is None or value == "":
        return "—"
    value = Decimal(value)
    if value == quantize(value):
        return format_cny(value)
    sign = "-" if value < 0 else ""
    return f"{sign}¥{abs(value):,.4f}"


@register.inclusion_tag("billing/_credit_panel.html", takes_context=True)
def credit_panel(context: template.Context) -> dict[str, Any]:
    """The active company's available credit and open invoice balance, for the dashboard."""
    request = context.get("request")
    membership = getattr(request, "membership", None)
    if request is None or membership is None:
        return {"show": False}
    position = credit_position(membership.company)
    can_see_credit = policy.can(membership, Action.CREDIT_READ)
    return {
        "show": True,
        "position": position,
        "open_balance": selectors.open_invoice_balance(company_objects(request, Invoice)),
        "can_see_credit": can_see_credit,
        # How the limit is used, for those who may see the credit terms.
        "chart": selectors.credit_use_chart(position) if position and can_see_credit else None,
    }
