"""Rows written with PostgreSQL's COPY (text format), and the same rows on the embedded SQLite
default: what order files and expense reports share when they write their lines."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models

_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})
_COPY_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r"}


def copy_text(value: object) -> str:
    """A value for COPY's text format: backslash, tab and line breaks escaped, NUL (which
    PostgreSQL text cannot hold) dropped."""
    text = str(value)
    return text.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(text) else text


def copy_unescape(value: str) -> str:
    """The value ``copy_text`` escaped."""
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", lambda m: _COPY_UNESCAPES.get(m[1], m[1]), value, flags=re.DOTALL)


class CopyWriter:
    """Text rows (tab-separated ``columns``, one per line) into ``model``'s table: PostgreSQL's
    COPY, or elsewhere (the embedded SQLite default of a laptop) ``bulk_create`` of the instances
    ``build`` makes from each row's values (still escaped: ``copy_unescape`` them)."""

    def __init__(
        self,
        cursor: Any,
        *,
        model: type[models.Model],
        columns: Sequence[str],
        build: Callable[[dict[str, str]], models.Model],
    ) -> None:
        self._model = model
        self._columns = tuple(columns)
        self._build = build
        sql = f"COPY {model._meta.db_table} ({', '.join(self._columns)}) FROM STDIN"
        self._copy_cm = cursor.cursor.copy(sql) if connection.vendor == "postgresql" else None
        self._copy: Any = None

    def __enter__(self) -> CopyWriter:
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
        rows = [
            self._build(dict(zip(self._columns, record.split("\t"), strict=True)))
            for record in text.split("\n")
            if record
        ]
        self._model._default_manager.bulk_create(rows, batch_size=500)
