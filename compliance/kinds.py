"""Every compliance report kind, by key (each module in compliance/reports/ defines one)."""

from __future__ import annotations

from compliance.content import ReportKind
from compliance.reports import business, register, structuring

# Each report module adds its ``KIND`` here: {"deposit": deposit.KIND, ...}
REPORT_KINDS: dict[str, ReportKind] = {
    business.KIND.key: business.KIND,
    register.KIND.key: register.KIND,
    structuring.KIND.key: structuring.KIND,
}


def report_kind(key: str) -> ReportKind:
    return REPORT_KINDS[key]
