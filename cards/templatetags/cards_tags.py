"""Display helpers of the ordering pages: money, unit prices, risk flags."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.forms import BoundField

from billing.money import format_cny
from cards.services.workflow import RISK_FLAG_LABELS

register = template.Library()


@register.filter
def cny(value: Decimal | None) -> str:
    """¥1,234.50; a dash for no amount."""
    if value is None or value == "":
        return "—"
    return format_cny(Decimal(value))


@register.filter
def cny_unit(value: Decimal | None) -> str:
    """A unit price as stored (up to four decimals, at least two): ¥97.4025, ¥97.50."""
    if value is None or value == "":
        return "—"
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,f}"
    whole, _dot, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{sign}¥{whole}.{fraction}"


@register.filter
def risk_label(flag: str) -> str:
    """The reason a risk flag stands for, in the reader's language."""
    label = RISK_FLAG_LABELS.get(flag)
    return str(label) if label is not None else flag


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int, param: str = "page") -> str:
    """This page's address with another page number; the search and filters stay."""
    query = context["request"].GET.copy()
    query[param] = str(number)
    return f"?{query.urlencode()}"


@register.simple_tag
def described_widget(field: BoundField, *ids: str) -> str:
    """The field's widget, described (``aria-describedby``) by its help text and errors when
    shown (``<id>_helptext``, ``<id>_error``) and by the elements ``ids`` (rules written once
    for many fields)."""
    own = []
    if field.auto_id and field.help_text:
        own.append(f"{field.auto_id}_helptext")
    if field.auto_id and field.errors:
        own.append(f"{field.auto_id}_error")
    described = " ".join([*own, *(i for i in ids if i)])
    return field.as_widget(attrs={"aria-describedby": described} if described else None)
