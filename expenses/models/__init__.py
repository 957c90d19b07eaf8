from expenses.models.periods import PeriodReport, PeriodStatus, ReconciliationPeriod
from expenses.models.reports import (
    EXCEPTION_STATES,
    Evidence,
    ExpenseLine,
    ExpenseMatch,
    ExpenseReport,
    LineState,
    ReportSource,
    ReportStatus,
    Resolution,
)
from expenses.models.vouchers import AccountMapping, AccountRule, VoucherNumber

__all__ = [
    "EXCEPTION_STATES",
    "AccountMapping",
    "AccountRule",
    "Evidence",
    "ExpenseLine",
    "ExpenseMatch",
    "ExpenseReport",
    "LineState",
    "PeriodReport",
    "PeriodStatus",
    "ReconciliationPeriod",
    "ReportSource",
    "ReportStatus",
    "Resolution",
    "VoucherNumber",
]
