"""Every compliance report kind, by key (each module in compliance/reports/ defines one)."""

from __future__ import annotations

from compliance.content import ReportKind
from compliance.reports import breakage, deposit, ledger_proofs

# Each report module adds its ``KIND`` here: {"deposit": deposit.KIND, ...}
REPORT_KINDS: dict[str, ReportKind] = {
    deposit.KIND.key: deposit.KIND,
    breakage.KIND.key: breakage.KIND,
    ledger_proofs.KIND.key: ledger_proofs.KIND,
}


def report_kind(key: str) -> ReportKind:
    return REPORT_KINDS[key]
