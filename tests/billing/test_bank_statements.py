"""Bank statement files: the column mapping in Chinese and English, all-or-nothing imports with
row-level errors, GBK text, re-imports that create nothing, automatic matching."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.audit import BillingAction
from billing.models import BankStatementImport, Invoice, Payment
from billing.services.bank_statements import StatementFileError, bank_statement_import
from billing.services.invoices import InvoiceLineData, invoice_issue
from portal.models import AuditEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
TODAY = timezone.localdate().isoformat()


def issue(company, amount: str, order: str = "PO1") -> Invoice:
    value = Decimal(amount)
    line = InvoiceLineData(
        description="礼品卡", face_value=value, quantity=1, unit_price=value, amount=value
    )
    return invoice_issue(company=company, order_number=order, lines=[line], net_days=30, actor=None)


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    return "\r\n".join(",".join(row) for row in rows).encode(encoding)


def run(data: bytes, name: str = "statement.csv") -> BankStatementImport:
    return bank_statement_import(file=data, file_name=name, actor=factories.operator())


HEADER = ["交易日期", "流水号", "对方户名", "对方账号", "贷方金额", "附言"]


@pytest.fixture
def company():
    return factories.company("厦门礼品有限公司")


@pytest.mark.parametrize("name", ["bank-statement.csv", "bank-statement-gbk.csv"])
def test_each_documented_sample_imports(name: str) -> None:
    statement = run((SAMPLES / name).read_bytes(), name)
    assert (statement.row_count, statement.created_count) == (3, 3)  # the fee line is outgoing
    payers = set(Payment.objects.values_list("payer_name", flat=True))
    assert payers == {"厦门礼品有限公司", "上海某某科技有限公司", "北京员工福利有限公司"}
    assert Payment.objects.get(bank_reference="20260105000123").amount == Decimal("2940.00")


def test_a_statement_matches_what_it_can_and_queues_the_rest(company) -> None:
    first = issue(company, "1000.00", "PO1")
    second = issue(company, "350.00", "PO2")
    data = csv_bytes(
        [
            HEADER,
            [TODAY, "S1", "厦门礼品有限公司", "6222 1", "1000.00", f"货款{first.number}"],
            [TODAY, "S2", "厦门礼品有限公司", "6222 1", "350.00", "二月货款"],
            [TODAY, "S3", "陌生人", "9999", "88.00", "不明款项"],
        ]
    )
    statement = run(data)
    assert (statement.row_count, statement.created_count, statement.duplicate_count) == (3, 3, 0)
    assert statement.matched_count == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == Invoice.Status.PAID
    unmatched = Payment.objects.get(status=Payment.Status.UNMATCHED)
    assert (unmatched.bank_reference, unmatched.statement_import) == ("S3", statement)
    assert AuditEvent.objects.filter(action=BillingAction.BANK_STATEMENT_IMPORTED).count() == 1

    again = run(data)
    assert (again.created_count, again.duplicate_count, again.matched_count) == (0, 3, 0)
    assert Payment.objects.count() == 3


def test_english_headers_and_an_xlsx_file(company) -> None:
    invoice = issue(company, "99.50")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Date", "Bank reference", "Payer", "Payer account", "Amount", "Remittance"])
    sheet.append([timezone.localdate(), "X1", "厦门礼品有限公司", "1", 99.5, invoice.number])
    buffer = io.BytesIO()
    workbook.save(buffer)
    statement = run(buffer.getvalue(), "statement.xlsx")
    assert (statement.created_count, statement.matched_count) == (1, 1)


def test_a_gbk_file_with_chinese_payer_names_imports_correctly() -> None:
    data = csv_bytes(
        [
            HEADER,
            [
                "2026年1月5日",
                "G1",
                "广州市天河区礼品有限公司",
                "1",
                "\uff11\uff12\uff10\uff10.\uff10\uff10",
                "货款",
            ],
        ],
        encoding="gbk",
    )
    statement = run(data)
    payment = Payment.objects.get()
    assert statement.created_count == 1
    assert payment.payer_name == "广州市天河区礼品有限公司"
    assert payment.amount == Decimal("1200.00")
    assert payment.received_on.isoformat() == "2026-01-05"


def test_bad_rows_are_each_reported_and_nothing_is_imported() -> None:
    data = csv_bytes(
        [
            HEADER,
            ["2026-01-05", "B1", "甲公司", "1", "100.00", "ok"],
            ["2026-13-45", "B2", "乙公司", "1", "100.00", ""],
            ["2026-01-05", "B3", "丙公司", "1", "-50.00", ""],
            ["2026-01-05", "B4", "丁公司", "1", "abc", ""],
            ["2026-01-05", "B1", "甲公司", "1", "100.00", "ok"],
            ["2026-01-05", "B5", "", "1", "10.00", ""],
        ]
    )
    with pytest.raises(StatementFileError) as caught:
        run(data)
    problems = [(e.row, e.column, e.value) for e in caught.value.rows]
    assert problems == [
        (3, "交易日期", "2026-13-45"),
        (4, "贷方金额", "-50.00"),
        (5, "贷方金额", "abc"),
        (6, "流水号", "B1"),
        (7, "对方户名", ""),
    ]
    messages = caught.value.messages
    assert "Row 4, 贷方金额 “-50.00”: a negative amount is money going out" in messages[1]
    assert "the same line as row 2" in messages[3]
    assert not Payment.objects.exists()
    assert not BankStatementImport.objects.exists()


def test_a_file_without_the_amount_column_is_refused() -> None:
    data = csv_bytes([["交易日期", "对方户名", "流水号"], ["2026-01-05", "甲公司", "1"]])
    with pytest.raises(ValidationError, match="no column for “贷方金额 / amount”"):
        run(data)
    assert not BankStatementImport.objects.exists()


def test_a_file_mixing_encodings_is_refused_with_its_row() -> None:
    data = (
        csv_bytes([HEADER, ["2026-01-05", "M1", "甲公司", "1", "1.00", ""]], "utf-8")
        + b"\r\n"
        + "2026-01-05,M2,乙公司,1,2.00,\r\n".encode("gbk")
    )
    with pytest.raises(ValidationError, match="Row 3"):
        run(data)
    assert not Payment.objects.exists()


def test_text_that_is_no_encoding_at_all_is_refused() -> None:
    data = csv_bytes([HEADER], "utf-8") + b"\r\n2026-01-05,U1,\xff\xfe\xfa,1,1.00,\r\n"
    with pytest.raises(ValidationError, match="Row 2 is "):
        run(data)
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_known_reference_with_another_amount_is_refused_not_dropped(company) -> None:
    """A bank reference already recorded with another amount (a typo in a hand-entered payment,
    or two accounts' serials colliding) is not a repeat: the file is refused naming the row."""
    run(csv_bytes([HEADER, [TODAY, "S9", "厦门礼品有限公司", "6222 1", "1000.00", "货款"]]))
    data = csv_bytes(
        [
            HEADER,
            [TODAY, "S10", "厦门礼品有限公司", "6222 1", "20.00", "货款"],
            [TODAY, "S9", "厦门礼品有限公司", "6222 1", "10000.00", "货款"],
        ]
    )

    with pytest.raises(StatementFileError) as refused:
        run(data)

    assert refused.value.rows[0].row == 3
    assert "S9" in refused.value.messages[0]
    assert "10,000.00" in refused.value.messages[0]
    assert not Payment.objects.filter(bank_reference="S10").exists()
    assert Payment.objects.get(bank_reference="S9").amount == Decimal("1000.00")
