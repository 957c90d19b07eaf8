"""A report's content as canonical JSON and its SHA-256: the same figures give the same bytes.

Labels (lazy translations) are written in English, so the content and its hash do not depend on
the language of whoever computed it; the XLSX and PDF show them in the reader's language.
Amounts are written as strings with their two places (never floats), dates in ISO form.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.functional import Promise

from compliance.content import Period, ReportContent


def plain(value: Any) -> Any:
    """One cell or figure value as JSON: Decimal as text, dates in ISO form, labels in English."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Promise):
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def content_dict(kind: str, period: Period, content: ReportContent) -> dict[str, Any]:
    with translation.override("en"):
        return {
            "kind": kind,
            "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
            "figures": [
                {"key": f.key, "label": str(f.label), "value": plain(f.value)}
                for f in content.figures
            ],
            "tables": [
                {
                    "key": t.key,
                    "title": str(t.title),
                    "columns": [str(c) for c in t.columns],
                    "rows": [[plain(v) for v in row] for row in t.rows],
                }
                for t in content.tables
            ],
            "notes": [str(n) for n in content.notes],
        }


def content_json(kind: str, period: Period, content: ReportContent) -> str:
    return json.dumps(
        content_dict(kind, period, content),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()
