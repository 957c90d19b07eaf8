"""Statements of account: numbers from the ledger (month boundaries in Asia/Shanghai time),
immutable once issued, versioned on re-issue, one per company and period however many builds
race, the finance team emailed once, and the files (CSV/XLSX with every card issued)."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import codecs
import datetime
import hashlib
import io
import threading
from decimal import Decimal

import openpyxl
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, connections, transaction

from billing.models import Statement, StatementFile
from billing.services import statements as service
from billing.services.statements import statement_build, statement_reissue
from cards import statement_activity
from portal.models import Role
from tests import factories
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai

# No worker runs during these tests: a shared one started by an earlier test of this process
# would take the deliveries and notices they queue on commit and send them itself.
pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing", "no_celery_worker")]

OCT = (datetime.date(2025, 10, 1), datetime.date(2025, 10, 31))
NOV = (datetime.date(2025, 11, 1), datetime.date(2025, 11, 30))
MONTHLY = Statement.Trigger.MONTHLY


def build(company, period, trigger=MONTHLY):
    return statement_build(
        company=company, period_start=period[0], period_end=period[1], trigger=trigger
    )


def ledger_receivable_before(company, at: datetime.datetime) -> Decimal:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(p.amount), 0) FROM billing_posting p "
            "JOIN billing_journalentry e ON e.id = p.entry_id "
            "JOIN billing_account a ON a.id = p.account_id "
            "WHERE a.kind = 'receivable' AND a.company_id = %s AND e.created_at < %s",
            [company.pk, at],
        )
        return Decimal(cursor.fetchone()[0])


def file_bytes(statement: Statement, fmt: str) -> bytes:
    record = statement.files.get(format=fmt)
    with record.file.open("rb") as handle:
        return handle.read()


@pytest.mark.django_db
def test_closing_is_the_next_opening_and_the_ledger_at_the_shanghai_month_end() -> None:
    company = factories.company("华东贸易有限公司")
    data.invoice(company, total="5000.00", issued=shanghai(2025, 9, 20, 10))
    data.invoice(company, total="1200.00", issued=shanghai(2025, 10, 3, 9))
    data.post(company, kind="payment_allocated", amount="-5000.00", at=shanghai(2025, 10, 15, 14))
    # 23:30 in Shanghai on 31 October is October...
    data.invoice(company, total="800.00", issued=shanghai(2025, 10, 31, 23, 30))
    # ...and 16:30 UTC on 31 October is 00:30 on 1 November in Shanghai.
    data.invoice(
        company,
        total="300.00",
        issued=datetime.datetime(2025, 10, 31, 16, 30, tzinfo=datetime.UTC),
    )
    data.post(company, kind="credit_note", amount="-300.00", at=shanghai(2025, 11, 20, 8))

    october = build(company, OCT)
    november = build(company, NOV)

    assert october.status == november.status == Statement.Status.ISSUED
    assert october.opening_balance == Decimal("5000.00")
    assert october.closing_balance == Decimal("2000.00")
    assert october.closing_balance == november.opening_balance
    assert november.closing_balance == Decimal("2000.00")
    assert october.closing_balance == ledger_receivable_before(company, shanghai(2025, 11, 1))
    assert november.closing_balance == ledger_receivable_before(company, shanghai(2025, 12, 1))
    assert october.summary["invoiced"] == "2000.00"
    assert october.summary["paid"] == "5000.00"
    assert november.summary["invoiced"] == "300.00"
    assert november.summary["credited"] == "300.00"
    opening, invoiced, credited, paid, closing = (
        Decimal(november.summary[k]) for k in ("opening", "invoiced", "credited", "paid", "closing")
    )
    assert opening + invoiced - credited - paid == closing
    assert october.number.startswith("ST-202510-")
    assert october.number.endswith("-v1")


@pytest.mark.django_db
def test_an_issued_statement_cannot_be_changed_or_deleted() -> None:
    company = factories.company()
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))
    statement = build(company, OCT)

    with pytest.raises(DatabaseError), transaction.atomic():
        Statement.objects.filter(pk=statement.pk).update(closing_balance=Decimal("0.00"))
    with pytest.raises(DatabaseError), transaction.atomic():
        Statement.objects.filter(pk=statement.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        StatementFile.objects.filter(statement=statement).update(sha256="0" * 64)

    statement.refresh_from_db()
    assert statement.closing_balance == Decimal("100.00")


@pytest.mark.django_db
def test_a_reissue_is_version_2_and_leaves_version_1_as_it_was() -> None:
    company = factories.company()
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))
    first = build(company, OCT)
    first_pdf = hashlib.sha256(file_bytes(first, "pdf")).hexdigest()
    # A late correction booked into October (an operator's backdated adjustment).
    data.post(company, kind="adjustment", amount="-40.00", at=shanghai(2025, 10, 30))

    second = statement_reissue(statement=first)

    assert (second.version, second.trigger, second.status) == (2, "reissue", "issued")
    assert second.number == first.number.replace("-v1", "-v2")
    assert second.closing_balance == Decimal("60.00")
    first.refresh_from_db()
    assert first.closing_balance == Decimal("100.00")
    assert first.files.get(format="pdf").sha256 == first_pdf
    # An on-demand request for the period now returns the latest version.
    assert build(company, OCT, Statement.Trigger.ON_DEMAND).pk == second.pk


@pytest.mark.django_db
def test_a_retried_build_returns_the_one_statement() -> None:
    company = factories.company()
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))
    first = build(company, OCT)
    again = build(company, OCT)
    on_demand = build(company, OCT, Statement.Trigger.ON_DEMAND)

    assert first.pk == again.pk == on_demand.pk
    assert Statement.objects.filter(company=company).count() == 1
    assert StatementFile.objects.filter(statement=first).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_builds_yield_one_statement() -> None:
    company = factories.company()
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(build(company, OCT).pk)
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statement = Statement.objects.get(company=company)
    assert results == [statement.pk, statement.pk]
    assert statement.status == Statement.Status.ISSUED
    assert StatementFile.objects.filter(statement=statement).count() == 3


@pytest.mark.django_db
def test_finance_is_emailed_once_when_the_statement_is_issued(
    django_capture_on_commit_callbacks,
) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    factories.member(company, Role.OWNER)
    factories.member(company, Role.PURCHASER)
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))

    with django_capture_on_commit_callbacks(execute=True):
        statement = build(company, OCT)
    with django_capture_on_commit_callbacks(execute=True):
        build(company, OCT)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [finance.email]
    assert statement.number in message.subject
    assert "http://" in message.body
    assert "/statements/" in message.body
    assert "¥100.00" in message.body


@pytest.mark.django_db
def test_without_finance_members_the_owners_are_emailed(django_capture_on_commit_callbacks) -> None:
    company = factories.company()
    owner = factories.member(company, Role.OWNER)
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))
    with django_capture_on_commit_callbacks(execute=True):
        build(company, OCT)
    assert [m.to for m in mail.outbox] == [[owner.email]]


@pytest.mark.django_db
def test_a_failed_build_says_why_and_a_retry_issues_it(monkeypatch) -> None:
    company = factories.company()
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))

    def broken(content, path):
        raise OSError("disk full")

    monkeypatch.setattr("billing.services.statements.files._write_xlsx", broken)
    failed = build(company, OCT)
    assert failed.status == Statement.Status.FAILED
    assert "disk full" in failed.failure
    assert not StatementFile.objects.filter(statement=failed).exists()

    monkeypatch.undo()
    retried = build(company, OCT)
    assert retried.pk == failed.pk
    assert retried.status == Statement.Status.ISSUED
    assert retried.files.count() == 3


@pytest.mark.django_db
def test_periods_must_be_finished_days_in_order() -> None:
    company = factories.company()
    today = datetime.date.today()
    with pytest.raises(ValidationError, match="not over yet"):
        build(company, (today.replace(day=1), today))
    with pytest.raises(ValidationError, match="before it starts"):
        build(company, (OCT[1], OCT[0]))
    assert not Statement.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("copy", [True, False], ids=["copy", "orm"])
def test_the_csv_and_xlsx_list_every_card_issued_with_formulas_neutralised(
    copy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rows come from PostgreSQL's COPY, or through the ORM as on the embedded SQLite.
    monkeypatch.setattr(statement_activity, "_streams_with_copy", lambda: copy)
    company = factories.company()
    buyer = factories.member(company, Role.PURCHASER)
    data.invoice(company, total="1000.00", issued=shanghai(2025, 10, 2))
    data.cards(
        company,
        buyer,
        count=3,
        at=shanghai(2025, 10, 5, 12),
        recipient='=HYPERLINK("x")',
        cost_center="研发,中心",
    )
    data.cards(company, buyer, count=2, at=shanghai(2025, 11, 1, 0, 1))  # November

    statement = build(company, OCT)

    assert statement.summary["cards"]["issued_count"] == 3
    assert statement.summary["cards"]["issued_value"] == "300.00"
    assert statement.summary["cards"]["outstanding_value"] == "300.00"
    raw = file_bytes(statement, "csv")
    assert raw.startswith(codecs.BOM_UTF8)
    assert hashlib.sha256(raw).hexdigest() == statement.files.get(format="csv").sha256
    assert statement.files.get(format="csv").size == len(raw)
    text = raw[3:].decode("utf-8")
    assert "\r\n" in text
    assert "\n" not in text.replace("\r\n", "")
    card_lines = [line for line in text.split("\r\n") if line.startswith('"00000000')]
    assert len(card_lines) == 3
    assert all("'=HYPERLINK" in line and '"研发,中心"' in line for line in card_lines)
    assert "2025-10-05 12:00:00" in card_lines[0]

    book = openpyxl.load_workbook(io.BytesIO(file_bytes(statement, "xlsx")), read_only=True)
    assert book.sheetnames == ["Statement", "Cards"]
    rows = list(book["Cards"].iter_rows(values_only=True))
    assert rows[0][:2] == ("Serial", "Face value")
    assert len(rows) == 4
    serial, face, recipient, _employee, cost_center, _order, issued_at = rows[1]
    assert len(serial) == 16
    assert face == 100
    assert recipient == '\'=HYPERLINK("x")'
    assert cost_center == "研发,中心"
    assert issued_at == datetime.datetime(2025, 10, 5, 12, 0)
    summary = {row[0]: row[1:] for row in book["Statement"].iter_rows(values_only=True) if row}
    assert summary["Closing balance"][0] == 1000


@pytest.mark.django_db
def test_the_aging_is_that_of_the_period_end_not_of_today() -> None:
    """An invoice paid in November still shows as owed, and past due, on October's statement,
    and its aging adds up to October's closing balance."""
    from tests.billing.test_aging import allocate_at

    company = factories.company("华南商贸有限公司")
    paid_later = data.invoice(company, total="700.00", issued=shanghai(2025, 9, 1, 10), due_days=10)
    data.invoice(company, total="300.00", issued=shanghai(2025, 10, 20, 10))
    allocate_at(paid_later, "700.00", shanghai(2025, 11, 5, 9))
    data.post(company, kind="payment_allocated", amount="-700.00", at=shanghai(2025, 11, 5, 9))

    october = build(company, OCT)

    aging = october.summary["aging"]
    assert aging["31_60"] == "700.00"  # due 11 September: 50 days past due on 31 October
    assert aging["current"] == "300.00"
    assert Decimal(aging["total"]) == october.closing_balance == Decimal("1000.00")


@pytest.mark.django_db
def test_a_range_of_months_is_not_numbered_as_its_first_month() -> None:
    company = factories.company()
    january = build(company, (datetime.date(2025, 1, 1), datetime.date(2025, 1, 31)))
    longer = build(
        company,
        (datetime.date(2025, 1, 1), datetime.date(2026, 1, 31)),
        trigger=Statement.Trigger.ON_DEMAND,
    )

    assert january.number == f"ST-202501-{company.pk:06d}-v1"
    assert longer.number == f"ST-20250101-20260131-{company.pk:06d}-v1"
    assert longer.pk != january.pk


@pytest.mark.django_db
def test_a_queued_reissue_claims_the_next_version_and_the_worker_side_builds_it(
    django_capture_on_commit_callbacks,
) -> None:
    """The admin's re-issue: version 2 is claimed at once (so a second click cannot claim it
    again) and built by the task; version 1 is untouched."""
    company = factories.company()
    data.invoice(company, total="100.00", issued=shanghai(2025, 10, 2))
    first = build(company, OCT)

    with django_capture_on_commit_callbacks() as queued:
        claimed = service.statement_queue_reissue(statement=first, actor=None)

    assert (claimed.version, claimed.status) == (2, Statement.Status.BUILDING)
    assert len(queued) == 1
    built = service.statement_build_claimed(statement_id=claimed.pk)
    assert built is not None
    assert (built.version, built.status) == (2, Statement.Status.ISSUED)
    assert built.closing_balance == first.closing_balance == Decimal("100.00")
    assert Statement.objects.filter(company=company).count() == 2
