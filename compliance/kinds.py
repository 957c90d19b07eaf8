"""Every compliance report kind, by key (each module in compliance/reports/ defines one)."""

from __future__ import annotations

from compliance.content import ReportKind

# Each report module adds its ``KIND`` here: {"deposit": deposit.KIND, ...}
REPORT_KINDS: dict[str, ReportKind] = {}


def report_kind(key: str) -> ReportKind:
    return REPORT_KINDS[key]
