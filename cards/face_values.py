"""A product's list of face values as people write it: ``100, 200, 500``, with full-width or
ideographic commas, semicolons, bars or one value per line. The one parser, shared by the
product form in the admin and the product import."""

from __future__ import annotations

from typing import Any

# Full-width comma, ideographic comma, semicolons (ASCII and full-width), line breaks, bars.
SEPARATORS = ("\uff0c", "\u3001", ";", "\uff1b", "\r", "\n", "|")


def face_value_list(value: Any) -> list[str]:
    """The listed values as text, in the order written, blanks dropped (the model checks each
    against the prepaid card rules)."""
    text = str(value if value is not None else "")
    for separator in SEPARATORS:
        text = text.replace(separator, ",")
    return [part.strip() for part in text.split(",") if part.strip()]
