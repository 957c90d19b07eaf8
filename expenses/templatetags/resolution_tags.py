"""Template filters of the exception queue."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def spent(amount: Decimal | None) -> Decimal | None:
    """A redemption's amount as spend (card transactions store it negative)."""
    return None if amount is None else -amount
