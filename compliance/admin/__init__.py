"""The operators' admin for compliance: the reports page (choose, preview, file, download) and
the deposit records."""

from .deposit import DepositCheckAdmin, DepositRecordAdmin
from .filing import FiledReportAdmin

__all__ = ["DepositCheckAdmin", "DepositRecordAdmin", "FiledReportAdmin"]
