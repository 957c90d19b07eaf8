"""The checked lines kept beside an upload, in PostgreSQL COPY text, and the writer that puts
them into an order (COPY, or ``bulk_create`` on SQLite)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.db import connection

from cards.models import OrderLine

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


_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})


def _copy_text(value: str) -> str:
    """A value for COPY's text format: backslash, tab and line breaks escaped, NUL (which
    PostgreSQL text cannot hold) dropped."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _copy_unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), value)


class _LineWriter:
    """Where confirmed lines go: PostgreSQL's COPY, or (the embedded SQLite default of a
    laptop) ``bulk_create`` of the same rows."""

    def __init__(self, cursor: Any, sql: str) -> None:
        self._copy_cm = cursor.cursor.copy(sql) if connection.vendor == "postgresql" else None
        self._copy: Any = None

    def __enter__(self) -> _LineWriter:
        if self._copy_cm is not None:
            self._copy = self._copy_cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        if self._copy_cm is not None:
            return self._copy_cm.__exit__(*exc)
        return None

    def write(self, text: str) -> None:
        if self._copy is not None:
            self._copy.write(text)
            return
        rows = []
        for record in text.split("\n"):
            if not record:
                continue
            values = dict(zip(_LINE_COLUMNS, record.split("\t"), strict=True))
            rows.append(
                OrderLine(
                    order_id=int(values["order_id"]),
                    position=int(values["position"]),
                    product_id=int(values["product_id"]),
                    face_value=Decimal(values["face_value"]),
                    quantity=int(values["quantity"]),
                    unit_price=Decimal(values["unit_price"]),
                    amount=Decimal(values["amount"]),
                    **{name: _copy_unescape(values[name]) for name in _LINE_COLUMNS[7:]},
                )
            )
        OrderLine.objects.bulk_create(rows, batch_size=500)
