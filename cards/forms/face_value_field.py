"""The face-value field of an order line, shaped by the line's product: a select of the values a
product lists, a number with the bounds and step of a product's range, or free text until a
product is chosen. Only a guide for the buyer: ``cards.services.orders`` checks every value
against the product, whatever the browser sends."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from billing.money import format_cny, parse_amount
from cards.models import CardProduct, CardType, face_value_cap_rule


def _as_decimal(raw: object) -> Decimal | None:
    if raw is None or not str(raw).strip():
        return None
    try:
        return parse_amount(raw, field="face value")
    except ValidationError:
        return None


def plain_amount(value: Decimal) -> str:
    """100 and 99.50 as a browser posts them: no separators, no needless decimals."""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.2f}"


class FaceValueSelect(forms.Select):
    """The listed values; a value posted as "100.00" or "100" selects the option "100"."""

    def format_value(self, value: Any) -> list[str]:
        shown: list[str] = []
        for raw in super().format_value(value):
            wanted = _as_decimal(raw)
            match = next(
                (
                    str(option)
                    for option, _label in self.choices
                    if wanted is not None and _as_decimal(option) == wanted
                ),
                raw,
            )
            shown.append(match)
        return shown


class FaceValueNumber(forms.NumberInput):
    """A range's number field; a value the browser could not show (``1,000``) is shown as a
    number (``1000``), or left out rather than shown wrong."""

    def format_value(self, value: Any) -> str | None:
        parsed = _as_decimal(value)
        return plain_amount(parsed) if parsed is not None else None


def _kind_cap(product: CardProduct) -> str:
    """'Bearer (unregistered): at most ¥1,000.00 a card.'"""
    return _("%(kind)s: at most %(cap)s a card.") % {
        "kind": CardType(product.card_type).label,
        "cap": format_cny(product.face_value_cap),
    }


def face_value_rules() -> str:
    """The prepaid card rules about face values, in the one wording the services use."""
    return " ".join(face_value_cap_rule(kind) for kind in (CardType.BEARER, CardType.REGISTERED))


def shape_face_value(field: forms.Field, product: CardProduct | None, raw: object) -> None:
    """Give ``field`` the widget and help text that fit ``product`` (None: not chosen yet, or
    not one on sale); ``raw`` is the value typed or saved, kept even when the product does
    not offer it, so that the check can name it."""
    if product is None:
        # The rules under the lines table describe it; the product's own come with it.
        field.widget = forms.TextInput(attrs={"inputmode": "decimal", "size": 8})
        field.help_text = ""
        return
    if product.face_values:
        values = product.listed_face_values()
        choices = [("", "—")] + [(plain_amount(v), format_cny(v)) for v in values]
        current = _as_decimal(raw)
        if str(raw or "").strip() and (current is None or current not in values):
            choices.append((str(raw), _("%(value)s (not offered)") % {"value": raw}))
        field.widget = FaceValueSelect(choices=choices)
        field.help_text = _kind_cap(product)
        return
    low = product.face_min or Decimal("0.01")
    high = product.face_max or product.face_value_cap
    step = product.face_step or Decimal("0.01")
    field.widget = FaceValueNumber(
        attrs={
            "min": plain_amount(low),
            "max": plain_amount(high),
            "step": plain_amount(step),
            "inputmode": "decimal",
        }
    )
    field.help_text = " ".join(
        [
            _("%(low)s to %(high)s, in steps of %(step)s.")
            % {"low": format_cny(low), "high": format_cny(high), "step": format_cny(step)},
            _kind_cap(product),
        ]
    )
