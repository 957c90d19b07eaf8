"""Expense reports in: a file (every encoding and delimiter, XLSX; Chinese or English headers) or
JSON lines, checked row by row; a valid report's lines written in their periods and handed to
matching once; a report with any error writes nothing."""

# Full-width digits and punctuation are this file's subject.
# ruff: noqa: RUF001

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    PeriodStatus,
    ReconciliationPeriod,
    ReportSource,
    ReportStatus,
)
from expenses.services.intake import (
    expense_report_discard,
    expense_report_progress,
    expense_report_receive,
    parse_day,
)
from expenses.services.periods import period_for
from portal.models import AuditEvent, Role
from portal.tabular import TableError
from tests import factories
from tests.expenses.intake_helpers import (
    EN,
    SERIAL,
    ZH,
    as_json,
    csv_bytes,
    matching,
    media,
    receive,
    row,
    xlsx_bytes,
)

__all__ = ["matching", "media"]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing", "media"),
]


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def finance(company):
    return factories.member(company, Role.FINANCE)


def lines_of(report: ExpenseReport) -> list[ExpenseLine]:
    return list(ExpenseLine.objects.filter(report=report).order_by("row_number"))


def nothing_written() -> None:
    assert not ExpenseLine.objects.exists()


# --- Valid reports, in every form --------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        ("utf-8", ","),
        ("utf-8-sig", ","),
        ("gb18030", ","),
        ("gbk", ","),
        ("utf-8", ";"),
        ("utf-8", "\t"),
        ("gbk", ";"),
        ("utf-8-sig", "\t"),
    ],
)
def test_a_csv_report_in_any_encoding_and_delimiter_writes_its_lines_and_goes_to_matching(
    company, finance, matching, encoding, delimiter
):
    data = csv_bytes(
        [ZH, row("1", serial=SERIAL), row("2", amount="56.50", day="2026-11-05", last4="9876")],
        encoding=encoding,
        delimiter=delimiter,
    )

    report = receive(company, finance, data)

    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    assert matching.calls == [report.pk]
    first, second = lines_of(report)
    assert (first.row_number, first.report_number, first.line_number) == (2, "BX-1", "1")
    assert (first.employee_id, first.employee_name) == ("E0001", "张三")
    assert first.expense_date == datetime.date(2026, 11, 3)
    assert first.amount == Decimal("128.00")
    assert (first.card_serial, first.card_last4) == (SERIAL, "1234")
    assert (first.cost_center, first.category, first.description) == (
        "人力资源部",
        "办公用品",
        "打印纸",
    )
    assert (second.amount, second.card_serial, second.card_last4) == (Decimal("56.50"), "", "9876")
    assert first.state == "pending"
    assert first.period.month == datetime.date(2026, 11, 1)
    assert first.period_id == second.period_id
    assert report.rows_total == 2
    assert report.result["line_count"] == 2
    assert report.result["total"] == "184.50"


def test_an_xlsx_report_with_english_headers_in_another_order_is_read(company, finance, matching):
    order = [11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    header = [EN[i] for i in order]
    cells = row("7", reference="DEMO-1", fapiao="12345678")
    data = xlsx_bytes([header, [cells[i] for i in order]])

    report = receive(company, finance, data, "report.xlsx")

    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    assert report.file_format == "xlsx"
    (line,) = lines_of(report)
    assert (line.line_number, line.merchant_reference, line.fapiao_number) == (
        "7",
        "DEMO-1",
        "12345678",
    )
    assert line.category == "办公用品"


def test_xlsx_dates_numbers_and_other_header_aliases_are_understood(company, finance, matching):
    header = [
        "报销单号",
        "行号",
        "工号",
        "姓名",
        "日期",
        "金额",
        "卡序列号",
        "成本中心",
        "费用类别",
        "摘要",
    ]
    data = xlsx_bytes(
        [
            header,
            [
                "BX-9",
                1,
                "E0002",
                "李四",
                datetime.date(2026, 10, 31),
                99.5,
                "",
                "销售部",
                "餐费",
                "午餐",
            ],
        ]
    )

    report = receive(company, finance, data, "report.xlsx")

    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    (line,) = lines_of(report)
    assert (line.line_number, line.expense_date, line.amount) == (
        "1",
        datetime.date(2026, 10, 31),
        Decimal("99.50"),
    )


def test_what_people_type_is_normalised(company, finance, matching):
    rows = [
        ZH,
        row("１", amount="１,２８０.００", day="2026/11/3", serial="6200 0000 0000 1234"),
        row("2", amount="¥56.5", day="2026年11月5日", last4="９８７６"),
        row("3", amount="300元", day="20261106", cost_center=" 销售部 "),
        row("4", amount="12", day="2026.11.07 10:30:00"),
    ]

    report = receive(company, finance, csv_bytes(rows))

    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    lines = lines_of(report)
    assert [line.line_number for line in lines] == ["1", "2", "3", "4"]
    assert [line.amount for line in lines] == [
        Decimal("1280.00"),
        Decimal("56.50"),
        Decimal("300.00"),
        Decimal("12.00"),
    ]
    assert [line.expense_date.day for line in lines] == [3, 5, 6, 7]
    assert lines[0].card_serial == SERIAL
    assert lines[1].card_last4 == "9876"
    assert lines[2].cost_center == "销售部"


def test_blank_rows_and_a_total_row_are_skipped_with_a_note(company, finance, matching):
    rows = [ZH, row("1"), [""] * 14, row("2"), ["合计", "", "", "", "", "256.00"]]

    report = receive(company, finance, csv_bytes(rows))

    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    assert len(lines_of(report)) == 2
    assert report.result["note_count"] == 2
    notes = [note["message"]["en"] for note in report.result["notes"]]
    assert notes == ["Row 3 is blank; skipped.", "Row 5 is a total row (“合计”); skipped."]


def test_json_lines_from_the_api_are_checked_by_the_same_rules(company, finance, matching):
    lines = [as_json(row("1")), {**as_json(row("2")), "amount": Decimal("56.5")}]

    report = expense_report_receive(company=company, user=finance, lines=lines)

    assert report.status == ReportStatus.MATCHING, report.result.get("errors")
    assert report.source == ReportSource.API
    assert report.file_format == "json"
    assert [line.amount for line in lines_of(report)] == [Decimal("128.00"), Decimal("56.50")]
    assert [line.row_number for line in lines_of(report)] == [1, 2]


def test_receiving_is_audited(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1")]), ip="203.0.113.9")

    event = AuditEvent.objects.get(action=ExpenseAction.REPORT_RECEIVED)
    assert event.object_id == str(report.public_id)
    assert event.company == company
    assert event.actor == finance
    assert event.ip == "203.0.113.9"
    assert event.changes["sha256"] == report.file_sha256


# --- Errors: row, column, value, reason; nothing written ------------------------------------------


BAD_DATE = "is not a date; write it as 2026-01-31 (or 2026/1/31, 2026年1月31日)."
BAD_SERIAL = "is not a card serial: a card serial has 16 digits."
SERIAL_AS_NUMBER = (
    f"{BAD_SERIAL.removesuffix('.')}, and the spreadsheet turned this one into a number. Format "
    "the column as text and type the serial again."
)
ERROR_CASES = [
    ({"amount": ""}, "金额", "", "is empty; every line needs it."),
    ({"employee": ""}, "工号", "", "is empty; every line needs it."),
    ({"amount": "12.345"}, "金额", "12.345", "has more than 2 decimal places."),
    ({"amount": "abc"}, "金额", "abc", "is not an amount; write digits such as 128 or 99.50."),
    ({"amount": "0"}, "金额", "0", "must be more than 0.00."),
    ({"amount": "-5.00"}, "金额", "-5.00", "must be more than 0.00."),
    ({"day": "03/11/2026"}, "费用日期", "03/11/2026", BAD_DATE),
    ({"day": "2026-02-30"}, "费用日期", "2026-02-30", BAD_DATE),
    ({"serial": "620000000000123"}, "卡号", "620000000000123", BAD_SERIAL),
    ({"serial": "6.2E+15"}, "卡号", "6.2E+15", SERIAL_AS_NUMBER),
    ({"last4": "12a4"}, "尾号", "12a4", "is not the last 4 of a card: write 4 digits."),
    ({"serial": SERIAL, "last4": "9999"}, "尾号", "9999", f"does not match the card serial {SERIAL}."),  # noqa: E501
    ({"fapiao": "FP-1"}, "发票号码", "FP-1", "is not a fapiao number: write its 8 to 20 digits."),
    ({"reference": "R" * 65}, "商户订单号", "R" * 65, "is longer than 64 characters."),
]  # fmt: skip


@pytest.mark.parametrize(("change", "column", "value", "reason"), ERROR_CASES)
def test_each_kind_of_row_error_names_row_column_value_and_reason_and_nothing_is_written(
    company, finance, matching, change, column, value, reason
):
    data = csv_bytes([ZH, row("1"), row("2", **change)])

    report = receive(company, finance, data)

    assert report.status == ReportStatus.INVALID
    assert report.error_count == 1
    (error,) = report.result["errors"]
    assert (error["row"], error["column"], error["value"]) == (3, column, value)
    assert error["reason"]["en"] == reason
    assert error["reason"]["zh-hans"]  # stored in every portal language
    nothing_written()
    assert matching.calls == []


def test_a_date_in_the_future_is_an_error(company, finance, matching):
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()

    report = receive(company, finance, csv_bytes([ZH, row("1", day=tomorrow)]))

    assert report.status == ReportStatus.INVALID
    assert report.result["errors"][0]["reason"]["en"].startswith("is in the future")


def test_the_same_report_and_line_number_twice_is_an_error_naming_both_rows(
    company, finance, matching
):
    data = csv_bytes([ZH, row("1"), row("2"), row("1", amount="9.00")])

    report = receive(company, finance, data)

    assert report.status == ReportStatus.INVALID
    (error,) = report.result["errors"]
    assert (error["row"], error["column"], error["value"]) == (4, "行号", "1")
    assert error["reason"]["en"] == "report BX-1 has line 1 twice: row 2 has it too."
    nothing_written()


def test_the_same_line_number_in_two_reports_of_one_file_is_fine(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1"), row("1", report="BX-2")]))

    assert report.status == ReportStatus.MATCHING
    assert len(lines_of(report)) == 2


def test_a_line_in_a_closed_period_is_an_error_naming_the_period(company, finance, matching):
    period = period_for(company=company, day=datetime.date(2026, 10, 15))
    ReconciliationPeriod.objects.filter(pk=period.pk).update(status=PeriodStatus.CLOSED)

    report = receive(company, finance, csv_bytes([ZH, row("1"), row("2", day="2026-10-31")]))

    assert report.status == ReportStatus.INVALID
    (error,) = report.result["errors"]
    assert (error["row"], error["column"], error["value"]) == (3, "费用日期", "2026-10-31")
    assert "period 2026-10, which is closed" in error["reason"]["en"]
    assert "2026-10" in error["reason"]["zh-hans"]
    nothing_written()


def test_another_companys_closed_period_does_not_matter(company, finance, matching):
    other = factories.company()
    period = period_for(company=other, day=datetime.date(2026, 11, 1))
    ReconciliationPeriod.objects.filter(pk=period.pk).update(status=PeriodStatus.CLOSED)

    report = receive(company, finance, csv_bytes([ZH, row("1")]))

    assert report.status == ReportStatus.MATCHING
    assert lines_of(report)[0].period.company == company


def test_every_error_of_a_row_is_listed_and_the_stored_list_is_capped(
    company, finance, matching, settings
):
    rows = [ZH, row("1", amount="x", day="y")] + [row(str(n), amount="x") for n in range(2, 1202)]

    report = receive(company, finance, csv_bytes(rows))

    assert report.status == ReportStatus.INVALID
    assert report.error_count == 1202
    assert len(report.result["errors"]) == 1000
    assert [e["column"] for e in report.result["errors"][:2]] == ["费用日期", "金额"]


def test_json_line_errors_name_the_line_and_the_field(company, finance, matching):
    lines = [as_json(row("1")), {**as_json(row("2")), "card_serial": "123"}]

    report = expense_report_receive(company=company, user=finance, lines=lines)

    assert report.status == ReportStatus.INVALID
    (error,) = report.result["errors"]
    assert (error["row"], error["column"], error["value"]) == (2, "card_serial", "123")
    nothing_written()


@pytest.mark.parametrize("lines", [[], ["not an object"], "nope"])
def test_json_lines_that_are_not_a_list_of_objects_are_refused(company, finance, lines):
    with pytest.raises(ValidationError):
        expense_report_receive(company=company, user=finance, lines=lines)
    assert not ExpenseReport.objects.exists()


def test_a_file_without_a_required_column_is_refused_and_nothing_is_stored(company, finance):
    header = [cell for cell in ZH if cell != "金额"]

    with pytest.raises(TableError) as caught:
        receive(company, finance, csv_bytes([header, row("1")[:5] + row("1")[6:]]))

    assert "金额 / Amount" in caught.value.messages[0]
    assert not ExpenseReport.objects.exists()
    nothing_written()


def test_a_file_that_is_not_a_table_is_refused(company, finance):
    with pytest.raises(TableError):
        receive(company, finance, b"%PDF-1.4 ...", "report.pdf")
    assert not ExpenseReport.objects.exists()


def test_a_viewer_cannot_upload(company):
    viewer = factories.member(company, Role.VIEWER)

    with pytest.raises(PermissionDenied):
        receive(company, viewer, csv_bytes([ZH, row("1")]))
    assert not ExpenseReport.objects.exists()


def test_a_purchaser_cannot_upload_either(company):
    purchaser = factories.member(company, Role.PURCHASER)

    with pytest.raises(PermissionDenied):
        receive(company, purchaser, csv_bytes([ZH, row("1")]))


# --- Idempotency ---------------------------------------------------------------------------------


def test_the_same_key_and_file_replay_the_same_report(company, finance, matching):
    data = csv_bytes([ZH, row("1")])

    first = receive(company, finance, data, idempotency_key="k-1")
    again = receive(company, finance, data, idempotency_key="k-1")

    assert again.pk == first.pk
    assert ExpenseReport.objects.count() == 1
    assert ExpenseLine.objects.count() == 1
    assert matching.calls == [first.pk]


def test_the_same_key_with_another_body_is_refused(company, finance, matching):
    receive(company, finance, csv_bytes([ZH, row("1")]), idempotency_key="k-1")

    with pytest.raises(ValidationError) as caught:
        receive(company, finance, csv_bytes([ZH, row("1", amount="9.00")]), idempotency_key="k-1")

    assert caught.value.code == "idempotency_key_reused"
    assert ExpenseReport.objects.count() == 1


def test_the_same_key_and_json_lines_replay_whatever_the_key_order(company, finance, matching):
    line = as_json(row("1"))
    first = expense_report_receive(company=company, user=finance, lines=[line], idempotency_key="k")
    reordered = dict(reversed(list(line.items())))

    again = expense_report_receive(
        company=company, user=finance, lines=[reordered], idempotency_key="k"
    )

    assert again.pk == first.pk


def test_one_companys_key_is_not_anothers(company, finance, matching):
    other = factories.company()
    other_finance = factories.member(other, Role.FINANCE)
    data = csv_bytes([ZH, row("1")])

    mine = receive(company, finance, data, idempotency_key="k-1")
    theirs = receive(other, other_finance, data, idempotency_key="k-1")

    assert mine.pk != theirs.pk


# --- Periods -------------------------------------------------------------------------------------


def test_period_for_makes_the_months_period_once(company):
    first = period_for(company=company, day=datetime.date(2026, 11, 3))
    again = period_for(company=company, day=datetime.date(2026, 11, 30))
    other = period_for(company=company, day=datetime.date(2026, 12, 1))

    assert first.pk == again.pk
    assert first.month == datetime.date(2026, 11, 1)
    assert first.status == PeriodStatus.OPEN
    assert other.pk != first.pk
    assert ReconciliationPeriod.objects.filter(company=company).count() == 2


def test_lines_of_two_months_go_to_two_periods(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1"), row("2", day="2026-10-30")]))

    november, october = lines_of(report)
    assert november.period.month == datetime.date(2026, 11, 1)
    assert october.period.month == datetime.date(2026, 10, 1)
    assert report.result["months"] == ["2026-10", "2026-11"]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-01-31", datetime.date(2026, 1, 31)),
        ("2026/1/5", datetime.date(2026, 1, 5)),
        ("2026.01.05", datetime.date(2026, 1, 5)),
        ("20260105", datetime.date(2026, 1, 5)),
        ("2026年1月5日", datetime.date(2026, 1, 5)),
        ("2026-01-05 13:45:00", datetime.date(2026, 1, 5)),
        ("2026-01-05T13:45:00", datetime.date(2026, 1, 5)),
        ("05/01/2026", None),
        ("2026-13-01", None),
        ("", None),
    ],
)
def test_dates_in_the_forms_expense_systems_export(text, day):
    assert parse_day(text) == day


# --- Discard -------------------------------------------------------------------------------------


def test_discarding_a_report_removes_its_lines_and_is_audited(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1"), row("2")]))
    report.refresh_from_db()
    ExpenseReport.objects.filter(pk=report.pk).update(status=ReportStatus.MATCHED)

    discarded = expense_report_discard(report_id=report.pk, user=finance)

    assert discarded.status == ReportStatus.DISCARDED
    nothing_written()
    event = AuditEvent.objects.get(action=ExpenseAction.REPORT_DISCARDED)
    assert event.changes["lines_deleted"] == 2
    with pytest.raises(ValidationError) as caught:
        expense_report_discard(report_id=report.pk, user=finance)
    assert caught.value.code == "finished"


def test_a_report_with_lines_in_a_closed_period_cannot_be_discarded(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1")]))
    ExpenseReport.objects.filter(pk=report.pk).update(status=ReportStatus.MATCHED)
    ReconciliationPeriod.objects.filter(company=company).update(status=PeriodStatus.CLOSED)

    with pytest.raises(ValidationError) as caught:
        expense_report_discard(report_id=report.pk, user=finance)

    assert caught.value.code == "period_closed"
    assert ExpenseLine.objects.count() == 1


def test_a_report_being_matched_cannot_be_discarded(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1")]))
    assert report.status == ReportStatus.MATCHING

    with pytest.raises(ValidationError) as caught:
        expense_report_discard(report_id=report.pk, user=finance)

    assert caught.value.code == "matching"


def test_a_viewer_cannot_discard(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1", amount="x")]))
    viewer = factories.member(company, Role.VIEWER)

    with pytest.raises(PermissionDenied):
        expense_report_discard(report_id=report.pk, user=viewer)


def test_progress_of_a_finished_report(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1", amount="x")]))

    progress = expense_report_progress(report)

    assert progress["finished"] is True
    assert progress["percent"] == 100
    assert progress["status"] == "invalid"
    assert progress["error_count"] == 1


def test_a_nul_character_in_a_value_is_an_error_stored_without_it(company, finance, matching):
    lines = [{**as_json(row("1")), "amount": "12\x00", "description": "a\x00b"}]

    report = expense_report_receive(company=company, user=finance, lines=lines)

    assert report.status == ReportStatus.INVALID
    assert report.result["errors"][0]["value"] == "12"
    nothing_written()


def test_a_nul_character_in_a_text_of_a_valid_line_is_dropped(company, finance, matching):
    lines = [{**as_json(row("1")), "description": "a\x00b"}]

    report = expense_report_receive(company=company, user=finance, lines=lines)

    assert report.status == ReportStatus.MATCHING
    assert lines_of(report)[0].description == "ab"


def test_a_period_closed_while_the_report_is_checked_makes_the_check_run_again(
    company, finance, matching, monkeypatch
):
    from expenses.services.intake import check

    october = period_for(company=company, day=datetime.date(2026, 10, 1))
    real_closed_months = check.closed_months
    reads: list[int] = []

    def read_before_the_close(company_id):
        # The check's first read of the closed periods came just before finance closed October.
        reads.append(company_id)
        return {} if len(reads) == 1 else real_closed_months(company_id)

    monkeypatch.setattr(check, "closed_months", read_before_the_close)
    ReconciliationPeriod.objects.filter(pk=october.pk).update(status=PeriodStatus.CLOSED)

    report = receive(company, finance, csv_bytes([ZH, row("1", day="2026-10-30"), row("2")]))

    assert len(reads) == 2
    assert report.status == ReportStatus.INVALID
    (error,) = report.result["errors"]
    assert (error["row"], error["value"]) == (2, "2026-10-30")
    assert "period 2026-10, which is closed" in error["reason"]["en"]
    nothing_written()
    assert matching.calls == []
