"""Builders for the expense report intake's tests: report files in every form an expense system
exports, and a stand-in for the matching engine (another part of issue 16) that records its
calls."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from expenses.models import ExpenseReport
from expenses.services import matching as matching_engine
from expenses.services.intake import expense_report_receive
from portal.models import Company, User

ZH = ["报销单号", "行号", "工号", "姓名", "费用日期", "金额", "商户", "商户订单号", "卡号", "尾号",
      "成本中心", "费用类别", "发票号码", "说明"]  # fmt: skip
EN = ["Report number", "Line number", "Employee ID", "Employee name", "Expense date", "Amount",
      "Merchant", "Merchant order reference", "Card serial", "Card last 4", "Cost center",
      "Category", "Fapiao number", "Description"]  # fmt: skip
SERIAL = "6200000000001234"


def row(
    line: str = "1",
    *,
    report: str = "BX-1",
    employee: str = "E0001",
    name: str = "张三",
    day: str = "2026-11-03",
    amount: str = "128.00",
    merchant: str = "示例超市",
    reference: str = "",
    serial: str = "",
    last4: str = "",
    cost_center: str = "人力资源部",
    category: str = "办公用品",
    fapiao: str = "",
    description: str = "打印纸",
) -> list[str]:
    return [report, line, employee, name, day, amount, merchant, reference, serial, last4,
            cost_center, category, fapiao, description]  # fmt: skip


def as_json(cells: list[str]) -> dict[str, str]:
    from expenses.services.intake import EXPENSE_COLUMNS

    return dict(zip(EXPENSE_COLUMNS, cells, strict=True))


def csv_bytes(rows: list[list[Any]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for cells in rows:
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def receive(
    company: Company, user: User, data: bytes, name: str = "report.csv", **kwargs: Any
) -> ExpenseReport:
    return expense_report_receive(
        company=company, user=user, upload=SimpleUploadedFile(name, data), **kwargs
    )


@dataclass
class MatchingStandIn:
    """Records each ``report_match`` call; ``finish`` leaves the report MATCHED (as the engine
    will), else it stays MATCHING."""

    calls: list[int] = field(default_factory=list)
    progress: list[Any] = field(default_factory=list)
    finish: bool = False

    def __call__(self, *, report_id: int, progress: Any = None) -> ExpenseReport:
        self.calls.append(report_id)
        self.progress.append(progress)
        if self.finish:
            ExpenseReport.objects.filter(pk=report_id).update(
                status="matched", result={"states": {"matched": 1}}
            )
        return ExpenseReport.objects.get(pk=report_id)

    def new_lines(
        self,
        *,
        report: ExpenseReport,
        total: int,
        records: Any,
        prepare: Any,
        progress: Any = None,
    ) -> ExpenseReport:
        """``report_match_new_lines`` without the matching: the staged lines written as they
        are (pending), by the engine's own write."""
        with matching_engine.temporary_tables():
            matching_engine.stage_lines(records)
            with transaction.atomic():
                locked = ExpenseReport.objects.select_for_update().get(pk=report.pk)
                periods = prepare(locked)
                if periods is None:
                    return locked
                run = matching_engine._Run(report=locked, total=total, progress=None, staged=True)
                run.answer_tables()
                run.write_staged(periods)
        return self(report_id=report.pk, progress=progress)


@pytest.fixture
def matching(monkeypatch: pytest.MonkeyPatch) -> MatchingStandIn:
    """The matching engine is another part of the app (expenses.services.matching): only its
    entry points are replaced, to see that the intake hands each valid report to it once, its
    lines written as they were read."""
    stand_in = MatchingStandIn()
    monkeypatch.setattr("expenses.services.matching.report_match", stand_in)
    monkeypatch.setattr("expenses.services.matching.report_match_new_lines", stand_in.new_lines)
    return stand_in


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
