"""The checked lines kept beside an upload, in PostgreSQL COPY text, and the writer that puts
them into an order (COPY, or ``bulk_create`` on SQLite: ``portal.copy_rows``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cards.models import OrderLine
from portal.copy_rows import CopyWriter, copy_unescape

_LINE_COLUMNS = (
    "order_id",
    "position",
    "product_id",
    "face_value",
    "quantity",
    "unit_price",
    "amount",
    "recipient_name",
    "recipient_mobile",
    "recipient_email",
    "employee_id",
    "cost_center",
    "note",
)
_COPY_BLOCK = 5000


def _order_line(values: dict[str, str]) -> OrderLine:
    return OrderLine(
        order_id=int(values["order_id"]),
        position=int(values["position"]),
        product_id=int(values["product_id"]),
        face_value=Decimal(values["face_value"]),
        quantity=int(values["quantity"]),
        unit_price=Decimal(values["unit_price"]),
        amount=Decimal(values["amount"]),
        **{name: copy_unescape(values[name]) for name in _LINE_COLUMNS[7:]},
    )


def _line_writer(cursor: Any) -> CopyWriter:
    """Where confirmed lines go."""
    return CopyWriter(cursor, model=OrderLine, columns=_LINE_COLUMNS, build=_order_line)
