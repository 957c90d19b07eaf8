"""Aging: open invoice balances by days past due, as of any date (what was owed then, not now),
and its CSV/XLSX export with formula-like text neutralised."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import csv
import datetime
import io
import itertools
import uuid
import zoneinfo
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from billing.models import Allocation, Invoice
from billing.services.invoices import InvoiceLineData, invoice_issue, invoice_void
from billing.services.payments import payment_record
from billing.services.receivables import aging_bucket, aging_export, aging_report
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
_orders = itertools.count(1)


def lines(amount: str) -> list[InvoiceLineData]:
    value = Decimal(amount)
    return [
        InvoiceLineData(
            description="礼品卡",
            face_value=value,
            quantity=1,
            unit_price=value,
            amount=value,
        )
    ]


def invoice(company, amount: str, *, due: datetime.date, issued: datetime.date) -> Invoice:
    created = invoice_issue(
        company=company,
        order_number=f"PO-A{next(_orders):05d}",
        lines=lines(amount),
        net_days=30,
        actor=None,
    )
    Invoice.objects.filter(pk=created.pk).update(due_date=due, issue_date=issued)
    created.refresh_from_db()
    return created


def allocate_at(invoice: Invoice, amount: str, at: datetime.datetime) -> None:
    """An allocation made at a given moment (the payment services always use now): the row and
    the invoice's paid amount, as the services leave them."""
    Allocation.objects.create(
        kind=Allocation.Kind.INVOICE,
        method=Allocation.Method.MANUAL,
        company=invoice.company,
        invoice=invoice,
        amount=Decimal(amount),
        created_at=at,
    )
    Invoice.objects.filter(pk=invoice.pk).update(paid_amount=invoice.paid_amount + Decimal(amount))
    invoice.refresh_from_db()


@pytest.fixture
def company():
    company = factories.company("账龄测试公司")
    factories.credit_line(company)
    return company


def test_bucket_boundaries() -> None:
    assert [aging_bucket(d) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91, 400)] == [
        "current",
        "current",
        "d1_30",
        "d1_30",
        "d31_60",
        "d31_60",
        "d61_90",
        "d61_90",
        "over_90",
        "over_90",
    ]


def test_balances_fall_in_their_buckets_at_the_boundaries(company) -> None:
    as_of = datetime.date(2026, 6, 30)
    issued = datetime.date(2026, 1, 1)
    for days, amount in [
        (-5, "1.00"),
        (0, "2.00"),
        (1, "10.00"),
        (30, "20.00"),
        (31, "100.00"),
        (60, "200.00"),
        (61, "1000.00"),
        (90, "2000.00"),
        (91, "10000.00"),
    ]:
        invoice(company, amount, due=as_of - datetime.timedelta(days=days), issued=issued)

    report = aging_report(as_of=as_of)

    [row] = report.rows
    assert row.company_name == "账龄测试公司"
    assert row.buckets == {
        "current": Decimal("3.00"),
        "d1_30": Decimal("30.00"),
        "d31_60": Decimal("300.00"),
        "d61_90": Decimal("3000.00"),
        "over_90": Decimal("10000.00"),
    }
    assert row.total == report.total == Decimal("13333.00")
    assert {item.days_past_due for item in row.items} == {0, 1, 30, 31, 60, 61, 90, 91}


def test_as_of_a_past_date_shows_what_was_owed_then(company) -> None:
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    paid_today = invoice(
        company,
        "500.00",
        due=today - datetime.timedelta(days=40),
        issued=today - datetime.timedelta(days=70),
    )
    partly = invoice(company, "800.00", due=yesterday, issued=today - datetime.timedelta(days=30))
    issued_today = invoice(company, "300.00", due=today + datetime.timedelta(days=30), issued=today)
    voided_today = invoice(company, "700.00", due=today, issued=today - datetime.timedelta(days=30))
    paid_at_issue = invoice(
        company, "900.00", due=yesterday, issued=today - datetime.timedelta(days=5)
    )
    # A pro-forma's transfer paid this one when it was issued (no allocation to it)
    Invoice.objects.filter(pk=paid_at_issue.pk).update(
        paid_amount=paid_at_issue.total, status=Invoice.Status.PAID
    )
    payment_record(
        bank_reference=f"B{uuid.uuid4().hex[:10]}",
        payer_name=company.legal_name,
        payer_account="6222",
        amount="500.00",
        received_on=today,
        remittance=paid_today.number,
        actor=None,
    )
    payment_record(
        bank_reference=f"B{uuid.uuid4().hex[:10]}",
        payer_name=company.legal_name,
        payer_account="6222",
        amount="300.00",
        received_on=today,
        remittance=partly.number,
        actor=None,
    )
    invoice_void(invoice=voided_today, reason="ordered twice", actor=None)

    then = aging_report(as_of=yesterday, company=company)
    now = aging_report(as_of=today, company=company)

    owed_then = {item.number: item.balance for item in then.rows[0].items}
    assert owed_then == {
        paid_today.number: Decimal("500.00"),
        partly.number: Decimal("800.00"),
        voided_today.number: Decimal("700.00"),
    }
    assert then.rows[0].buckets["d31_60"] == Decimal("500.00")
    owed_now = {item.number: item.balance for item in now.rows[0].items}
    assert owed_now == {partly.number: Decimal("500.00"), issued_today.number: Decimal("300.00")}


def test_an_allocation_counts_from_its_moment_in_shanghai_time(company) -> None:
    as_of = datetime.date(2026, 3, 31)
    owed = invoice(
        company, "1000.00", due=datetime.date(2026, 3, 1), issued=datetime.date(2026, 2, 1)
    )
    # 23:59 on the 31st in Shanghai is 15:59 UTC: counts for the 31st
    allocate_at(owed, "100.00", datetime.datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI))
    # 00:00 on 1 April in Shanghai is still 31 March in UTC: does not count
    allocate_at(owed, "200.00", datetime.datetime(2026, 4, 1, 0, 0, tzinfo=SHANGHAI))

    [row] = aging_report(as_of=as_of).rows
    assert row.items[0].balance == Decimal("900.00")
    [row] = aging_report(as_of=datetime.date(2026, 4, 1)).rows
    assert row.items[0].balance == Decimal("700.00")


def test_each_company_its_own_row_and_a_company_filter() -> None:
    as_of = datetime.date(2026, 6, 30)
    a, b = factories.company("甲公司"), factories.company("乙公司")
    invoice(a, "100.00", due=datetime.date(2026, 6, 1), issued=datetime.date(2026, 5, 1))
    invoice(b, "250.00", due=datetime.date(2026, 3, 1), issued=datetime.date(2026, 2, 1))

    everyone = aging_report(as_of=as_of)
    assert {row.company_name: row.total for row in everyone.rows} == {
        "甲公司": Decimal("100.00"),
        "乙公司": Decimal("250.00"),
    }
    assert everyone.totals["d1_30"] == Decimal("100.00")
    assert everyone.totals["over_90"] == Decimal("250.00")
    only_a = aging_report(as_of=as_of, company=a)
    assert [row.company_name for row in only_a.rows] == ["甲公司"]


def test_exports_neutralise_formulas_and_keep_amounts_as_numbers() -> None:
    as_of = datetime.date(2026, 6, 30)
    evil = factories.company('=HYPERLINK("http://evil.example","pay here")')
    invoice(evil, "1234.50", due=datetime.date(2026, 6, 10), issued=datetime.date(2026, 5, 10))
    report = aging_report(as_of=as_of)

    data = aging_export(report, fmt="csv", detail=False)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Company", "Unified social credit code", "Current"]
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","pay here")'
    assert rows[1][3] == "1234.50"  # 1-30 days
    assert rows[-1][0] == "Total"

    book = openpyxl.load_workbook(io.BytesIO(aging_export(report, fmt="xlsx", detail=True)))
    sheet = book.active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][1] == "Invoice"
    assert values[1][0].startswith("'=HYPERLINK")
    assert values[1][5] == 20  # days past due
    assert Decimal(str(values[1][7])) == Decimal("1234.50")
