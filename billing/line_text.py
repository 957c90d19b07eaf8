"""What an invoice line says, stored as a code and its parameters and rendered in the reader's
language (issue 12, defect 4): an invoice issued while a Chinese-speaking purchaser was signed in
reads in English to an English reader, and the stored facts (product name, face value) never
change, only their rendering.

A line without a code (issued before codes, or free text) shows its stored ``description``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from billing.money import format_cny

CARD_SALE = "card_sale"

TEMPLATES: dict[str, Promise] = {
    CARD_SALE: gettext_lazy("%(product)s, face value %(value)s"),
}

# The texts the card sale line was stored as before codes existed, in each language: the data
# migration reads the facts back out of them.
LEGACY_CARD_SALE = (
    re.compile(r"^(?P<product>.+), face value ¥(?P<value>[\d,]+(?:\.\d+)?)$"),
    re.compile(r"^(?P<product>.+)\uff0c面值 ¥(?P<value>[\d,]+(?:\.\d+)?)$"),
)


def card_sale_params(*, product: str, product_en: str, face_value: Decimal) -> dict[str, str]:
    """The facts of a card sale line: the product's names as they were, and the face value."""
    return {"product": product, "product_en": product_en, "face_value": str(face_value)}


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


def render(code: str, params: dict[str, Any], fallback: str) -> str:
    """The line's text in the active language; ``fallback`` when the code is unknown."""
    template = TEMPLATES.get(code)
    if template is None:
        return fallback
    if code == CARD_SALE:
        product = str(params.get("product", ""))
        if _english() and params.get("product_en"):
            product = str(params["product_en"])
        try:
            value = format_cny(Decimal(str(params.get("face_value", ""))))
        except InvalidOperation:
            return fallback
        return str(template) % {"product": product, "value": value}
    return fallback  # pragma: no cover - every code has its branch


def parse_legacy(description: str) -> dict[str, str] | None:
    """The card sale facts of a text stored before codes, or None if it is not one."""
    for pattern in LEGACY_CARD_SALE:
        found = pattern.match(description)
        if found:
            value = Decimal(found["value"].replace(",", ""))
            return card_sale_params(product=found["product"], product_en="", face_value=value)
    return None
