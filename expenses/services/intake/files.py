"""Files to download: a report's error file (its rows again, each with its errors, to fix and
upload again) and the template to fill in."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from expenses.models import ExpenseReport
from portal.exports import CsvWriter, XlsxWriter, error_file_bytes

from .base import TEMPLATE_HEADERS
from .reader import closed_months, report_rows
from .rows import LineRules


def expense_report_error_rows(report: ExpenseReport) -> Iterator[list[str]]:
    """The report's header and rows as it was sent (a JSON report: its fields as columns), each
    with an error column: empty on a good row, else "column: reason; ..." in the active
    language. Checked again the same way as the check."""
    rules = LineRules(closed=closed_months(report.company_id), today=timezone.localdate())
    with report_rows(report) as rows:
        width = len(rows.header)
        yield [*rows.header, _("error")]
        for outcome in rows.outcomes(rules):
            cells = outcome.cells + [""] * (width - len(outcome.cells))
            text = "; ".join(
                f"{rows.label(problem.field)}: {problem.reason()}" for problem in outcome.problems
            )
            # A blank row stays blank (a note would make it a row to check when it comes back);
            # a total row keeps its note.
            if not text and outcome.cells and outcome.note is not None:
                text = outcome.note()
            yield [*cells, text]


def expense_report_error_file(report: ExpenseReport, fmt: str) -> bytes:
    """The error file as CSV (UTF-8 with BOM) or XLSX, safe to open and to upload again once
    fixed (the error column is not a column of the report, and is ignored when it comes back;
    a CSV cell neutralised against formulas gets its apostrophe taken off again)."""
    return error_file_bytes(expense_report_error_rows(report), fmt, title=_("Expense report"))


def _examples(chinese: bool) -> list[list[Any]]:
    if chinese:
        return [
            ["BX2026110001", "1", "E0001", "张三", "2026-11-03", "128.00", "示例超市",
             "DEMO-20261103-001", "", "", "人力资源部", "办公用品", "", "打印纸"],
            ["BX2026110001", "2", "E0001", "张三", "2026-11-05", "56.50", "", "", "", "1234",
             "人力资源部", "餐费", "12345678", "加班餐"],
        ]  # fmt: skip
    return [
        ["BX2026110001", "1", "E0001", "Zhang San", "2026-11-03", "128.00", "Demo Mart",
         "DEMO-20261103-001", "", "", "HR", "Office supplies", "", "Printer paper"],
        ["BX2026110001", "2", "E0001", "Zhang San", "2026-11-05", "56.50", "", "", "", "1234",
         "HR", "Meals", "12345678", "Overtime meal"],
    ]  # fmt: skip


def expense_report_template(*, language: str, fmt: str) -> bytes:
    """An expense report to fill in: every column, headed in ``language`` ("zh-hans" or "en"),
    with two example lines."""
    chinese = language.startswith("zh")
    header = TEMPLATE_HEADERS["zh-hans" if chinese else "en"]
    buffer = io.BytesIO()
    with translation.override("zh-hans" if chinese else "en"):
        if fmt == "xlsx":
            xlsx = XlsxWriter(
                buffer, title=_("Expense report"), header=header, widths=[16] * len(header)
            )
            xlsx.writerows(_examples(chinese))
            xlsx.close()
        elif fmt == "csv":
            writer = CsvWriter(buffer)
            writer.writerow(header)
            writer.writerows(_examples(chinese))
            writer.close()
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()
