"""The files of expense report intake: the error file of a report with errors (its rows again,
each with its errors, fixed and uploaded again) and the templates, in both languages."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.utils import translation

from expenses.models import ExpenseLine, ReportStatus
from expenses.services.intake import (
    TEMPLATE_HEADERS,
    expense_report_error_file,
    expense_report_receive,
    expense_report_template,
)
from portal.models import Role
from tests import factories
from tests.expenses.intake_helpers import ZH, as_json, csv_bytes, matching, media, receive, row

__all__ = ["matching", "media"]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing", "media"),
]


@pytest.fixture
def finance():
    return factories.member(factories.company(), Role.FINANCE)


def company_of(user):
    return user.memberships.get().company


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def read_xlsx(data: bytes) -> list[list[str]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]


def bad_report(finance):
    rows = [
        ZH,
        row("1"),
        row("2", amount="12,50x"),
        [""] * 14,
        row("3", serial="=cmd|' /C calc'!A0"),
    ]
    return receive(company_of(finance), finance, csv_bytes(rows))


def test_the_csv_error_file_has_every_row_with_an_error_column(finance, matching):
    report = bad_report(finance)
    assert report.status == ReportStatus.INVALID

    rows = read_csv(expense_report_error_file(report, "csv"))

    assert rows[0] == [*ZH, "error"]
    assert rows[1][-1] == ""
    assert rows[2][-1] == "金额: is not an amount; write digits such as 128 or 99.50."
    assert rows[3] == [""] * 15  # a blank row stays blank
    assert rows[4][8].startswith("'=")  # neutralised against formulas
    assert rows[4][-1].startswith("卡号: is not a card serial")


def test_the_error_file_is_in_the_readers_language(finance, matching):
    report = bad_report(finance)

    with translation.override("zh-hans"):
        rows = read_csv(expense_report_error_file(report, "csv"))

    with translation.override("zh-hans"):
        error = translation.gettext("error")
    assert error != "error"
    assert rows[0][-1] == error


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_error_file_fixed_and_uploaded_again_is_valid(finance, matching, fmt):
    report = bad_report(finance)
    content = expense_report_error_file(report, fmt)
    rows = read_csv(content) if fmt == "csv" else read_xlsx(content)

    rows[2][5] = "12.50"
    rows[4][8] = ""
    fixed = csv_bytes(rows) if fmt == "csv" else _xlsx(rows)
    again = receive(company_of(finance), finance, fixed, f"fixed.{fmt}")

    assert again.status == ReportStatus.MATCHING, again.result.get("errors")
    assert ExpenseLine.objects.filter(report=again).count() == 3
    assert again.result["unknown_columns"] == ["error"]


def _xlsx(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for cells in rows:
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_json_reports_error_file_has_the_fields_as_columns(finance, matching):
    lines = [as_json(row("1")), {**as_json(row("2")), "amount": "x"}]
    report = expense_report_receive(company=company_of(finance), user=finance, lines=lines)

    rows = read_csv(expense_report_error_file(report, "csv"))

    assert rows[0][:3] == ["report_number", "line_number", "employee_id"]
    assert rows[2][5] == "x"
    assert rows[2][-1] == "amount: is not an amount; write digits such as 128 or 99.50."


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_each_template_has_every_column_and_its_examples_pass_the_check(
    finance, matching, language, fmt
):
    content = expense_report_template(language=language, fmt=fmt)
    rows = read_csv(content) if fmt == "csv" else read_xlsx(content)

    assert rows[0] == TEMPLATE_HEADERS[language]
    report = receive(company_of(finance), finance, content, f"template.{fmt}")
    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    assert ExpenseLine.objects.filter(report=report).count() == 2
