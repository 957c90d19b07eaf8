"""What a compliance report computes: named figures and tables, the same for the same period.

Every report kind returns a ``ReportContent``; the filing, the XLSX and the PDF, the SHA-256 and
the admin pages work on this shape only, so a report is one function from a period to its content.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise

Label = str | Promise  # a translated label (lazy) or plain text


@dataclass(frozen=True)
class Period:
    start: datetime.date  # first day, inclusive
    end: datetime.date  # last day, inclusive


@dataclass(frozen=True)
class Figure:
    key: str  # stable, machine name: "outstanding_balance"
    label: Label
    value: Decimal | int | str | datetime.date | Promise  # Promise: a translated word


@dataclass(frozen=True)
class ReportTable:
    key: str  # stable, machine name: "by_face_value_band"
    title: Label
    columns: Sequence[Label]
    rows: Sequence[Sequence[Any]]  # Decimal, int, str, date; identifiers as str


@dataclass(frozen=True)
class ReportContent:
    figures: Sequence[Figure] = ()
    tables: Sequence[ReportTable] = ()
    notes: Sequence[Label] = field(default_factory=tuple)


@dataclass(frozen=True)
class ReportKind:
    key: str  # "deposit", "business", "register", "structuring", "breakage", "ledger_proofs"
    title: Label
    period: str  # "quarter" | "month" | "any"
    compute: Callable[[Period], ReportContent]
