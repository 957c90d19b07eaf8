"""Expense reports in: a buyer's expense system export (CSV in UTF-8, UTF-8 with BOM or
GB18030/GBK, comma, semicolon or tab; or XLSX, through ``portal.tabular`` like order files) or
JSON lines from the API, checked row by row, its claim lines written and handed to matching.

The columns (docs/expense-reports.md): headers in Chinese or English, in any order
(``EXPENSE_COLUMNS``). Every row goes through ``LineRules``: the same rules for a file's rows and
the API's lines, with errors naming row, column, value and reason, stored in every portal
language. A report with any error writes no line (INVALID, with an error file to fix and upload
again); a valid one writes all its lines in one transaction (each in its month's period) and
goes to ``expenses.services.matching.report_match``.

Small reports are checked while the buyer waits; larger ones (``EXPENSE_REPORT_INLINE_MAX_BYTES``)
by the ``expenses.tasks.expense_report_process`` task, with progress in ``rows_done``.
"""

from .base import (
    EXPENSE_COLUMNS,
    MAX_STORED_ERRORS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    REQUIRED_VALUES,
    TEMPLATE_HEADERS,
)
from .check import (
    expense_report_check,
    expense_report_fail,
    expense_report_progress,
    report_progress_recorder,
)
from .discard import expense_report_discard
from .files import expense_report_error_file, expense_report_error_rows, expense_report_template
from .receive import expense_report_receive
from .rows import CheckedLine, LineRules, parse_day

__all__ = [
    "EXPENSE_COLUMNS",
    "MAX_STORED_ERRORS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "REQUIRED_VALUES",
    "TEMPLATE_HEADERS",
    "CheckedLine",
    "LineRules",
    "expense_report_check",
    "expense_report_discard",
    "expense_report_error_file",
    "expense_report_error_rows",
    "expense_report_fail",
    "expense_report_progress",
    "expense_report_receive",
    "expense_report_template",
    "parse_day",
    "report_progress_recorder",
]
