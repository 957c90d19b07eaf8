"""Issue 13, point 10: identifiers stay text and amounts stay numbers in every CSV and XLSX the
statements and the aging write. A 16-digit serial written as a bare numeral became
8600000000000020 in a spreadsheet (15 significant digits) and two cards merged into one.

Each file is opened back: with ``csv`` (identifiers intact, made only of digits they end with the
tab that keeps them text, amounts written with two decimals) and with openpyxl (identifiers are
string cells, amounts numeric cells shown with two decimals)."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest

from billing.models import Invoice
from billing.services.receivables import aging_export, aging_report
from cards import statement_activity
from cards.models import Card
from portal.models import Role
from tests import factories
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai
from tests.billing.test_statements import OCT, build, file_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SERIALS = ["8600000000000015", "8600000000000016"]
AMOUNT_FORMATS = {"#,##0.00", "0.00"}


def _csv(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _company_with_long_serials():
    company = factories.company()
    buyer = factories.member(company, Role.PURCHASER)
    order = data.cards(
        company,
        buyer,
        count=2,
        at=shanghai(2025, 10, 5, 12),
        recipient="+86 138 0013 8000",
        cost_center="=1+1",
    )
    order.lines.update(employee_id="00123")
    for card, serial in zip(
        Card.objects.filter(batch__order=order).order_by("serial"), SERIALS, strict=True
    ):
        card.serial = int(serial)
        card.save(update_fields=["serial"])
    return company


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "orm"])
def test_the_statement_keeps_serials_and_ids_text_and_amounts_numbers(
    copy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statement_activity, "_streams_with_copy", lambda: copy)
    company = _company_with_long_serials()

    statement = build(company, OCT)

    rows = _csv(file_bytes(statement, "csv"))
    by_label = {row[0]: row[1:] for row in rows if row}
    assert by_label["Opening balance"] == ["0.00"]  # not "0"
    cards = [row for row in rows if row and row[0].rstrip("\t") in SERIALS]
    assert [row[0] for row in cards] == [serial + "\t" for serial in SERIALS]
    for row in cards:
        assert row[1] == "100.00"
        assert row[2] == "'+86 138 0013 8000"  # inert, and text
        assert row[3] == "00123\t"  # leading zeros kept
        assert row[4] == "'=1+1"

    book = openpyxl.load_workbook(io.BytesIO(file_bytes(statement, "xlsx")))
    summary = {row[0].value: row[1] for row in book["Statement"].iter_rows() if row[0].value}
    opening = summary["Opening balance"]
    assert opening.data_type == "n"
    assert opening.value == 0
    assert opening.number_format in AMOUNT_FORMATS
    sheet = book["Cards"]
    assert [sheet.cell(row=r, column=1).value for r in (2, 3)] == SERIALS
    for r in (2, 3):
        serial, face, recipient, employee, cost_center = (
            sheet.cell(row=r, column=c) for c in range(1, 6)
        )
        assert serial.data_type == "s"
        assert face.data_type == "n"
        assert face.value == 100
        assert face.number_format in AMOUNT_FORMATS
        assert recipient.value == "'+86 138 0013 8000"
        assert employee.data_type == "s"
        assert employee.value == "00123"
        assert cost_center.value == "'=1+1"
        assert cost_center.data_type == "s"


def test_the_card_rows_are_the_same_bytes_from_copy_and_from_the_orm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    company = _company_with_long_serials()
    start, end = shanghai(2025, 10, 1), shanghai(2025, 11, 1)
    written = {}
    for copy in (True, False):
        monkeypatch.setattr(statement_activity, "_streams_with_copy", lambda copy=copy: copy)
        out = io.BytesIO()
        statement_activity.card_statement_activity.write_csv_rows(
            company_id=company.pk, start=start, end=end, out=out
        )
        written[copy] = out.getvalue()

    assert written[True] == written[False]
    assert written[True].startswith(b'"8600000000000015\t",100.00,"\'+86 138 0013 8000"')


def test_the_aging_export_keeps_numbers_text_and_amounts_numbers() -> None:
    company = factories.company()
    invoice = data.invoice(company, total="1234.50", issued=shanghai(2025, 10, 2))
    Invoice.objects.filter(pk=invoice.pk).update(order_number="8600000000000015")
    report = aging_report(as_of=datetime.date(2025, 12, 31))

    rows = _csv(aging_export(report, fmt="csv", detail=True))
    assert rows[1][2] == "8600000000000015\t"
    assert rows[1][7] == "1234.50"
    summary = _csv(aging_export(report, fmt="csv", detail=False))
    assert sorted(summary[1][2:]) == ["0.00"] * 4 + ["1234.50"] * 2  # zeros as 0.00, not 0

    sheet = openpyxl.load_workbook(io.BytesIO(aging_export(report, fmt="xlsx", detail=True))).active
    order_number, balance = sheet.cell(row=2, column=3), sheet.cell(row=2, column=8)
    assert order_number.data_type == "s"
    assert order_number.value == "8600000000000015"
    assert balance.data_type == "n"
    assert Decimal(str(balance.value)) == Decimal("1234.50")
    assert balance.number_format in AMOUNT_FORMATS
