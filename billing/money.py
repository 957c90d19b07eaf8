"""Money: CNY amounts as Decimal with two places. The one module that rounds."""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CENT = Decimal("0.01")
# Unit prices keep four places (a 2.5% discount on 99.90 is 97.4025); only line amounts are cents.
UNIT_PLACES = Decimal("0.0001")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")  # max_digits=14, decimal_places=2

# Model field arguments for every amount column.
AMOUNT_FIELD = {"max_digits": 14, "decimal_places": 2}

# ASCII digits only (full-width ones are normalised first); commas only as thousands separators.
_AMOUNT_RE = re.compile(r"-?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?", re.ASCII)


def quantize(value: Decimal) -> Decimal:
    """Round to the cent, half up (the way people and invoices round)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def quantize_unit_price(value: Decimal) -> Decimal:
    """A unit price to four places, half up."""
    return value.quantize(UNIT_PLACES, rounding=ROUND_HALF_UP)


def parse_amount(raw: object, *, field: str = "amount") -> Decimal:
    """A strict amount from user input: digits, one optional point, at most two decimals.

    Accepts full-width digits and thousands separators (NFKC-normalised); refuses exponents, NaN,
    infinities, more than two decimals and anything beyond the column's size, with a message
    that names the value.
    """
    if isinstance(raw, Decimal):
        text = format(raw, "f")
    elif isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, str):
        text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "")
    else:
        raise ValidationError(
            _("%(field)s: %(value)s is not an amount.") % {"field": field, "value": raw},
            code="invalid",
        )
    if not _AMOUNT_RE.fullmatch(text):
        raise ValidationError(
            _("%(field)s: %(value)s is not an amount; write digits such as 100 or 99.50.")
            % {"field": field, "value": raw},
            code="invalid",
        )
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern already rules these out
        raise ValidationError(
            _("%(field)s: %(value)s is not an amount.") % {"field": field, "value": raw}
        ) from exc
    # Size first: quantizing a 30-digit number would overflow the decimal context.
    if abs(value) > MAX_AMOUNT:
        raise ValidationError(
            _("%(field)s: %(value)s is too large.") % {"field": field, "value": raw},
            code="too_large",
        )
    if value != value.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValidationError(
            _("%(field)s: %(value)s has more than 2 decimal places.")
            % {"field": field, "value": raw},
            code="decimals",
        )
    return value.quantize(CENT)


def format_cny(value: Decimal) -> str:
    """¥1,234.50: the display form used in pages, emails and PDFs."""
    sign = "-" if value < 0 else ""
    return f"{sign}¥{abs(quantize(value)):,.2f}"
