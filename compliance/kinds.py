"""Every compliance report kind, by key (each module in compliance/reports/ defines one), in the
order of the regime's list (docs/compliance.md)."""

from __future__ import annotations

from compliance.content import ReportKind
from compliance.reports import (
    breakage,
    business,
    deposit,
    ledger_proofs,
    register,
    structuring,
)

REPORT_KINDS: dict[str, ReportKind] = {
    kind.key: kind
    for kind in (
        deposit.KIND,
        business.KIND,
        register.KIND,
        structuring.KIND,
        breakage.KIND,
        ledger_proofs.KIND,
    )
}


def report_kind(key: str) -> ReportKind:
    return REPORT_KINDS[key]
