"""Closing a period: refused while exceptions are open or reports are still matching (saying how
many, and where); it files the reconciliation report as XLSX and PDF, immutable, with their
SHA-256; a closed period is frozen; re-opening needs an owner and a reason, and closing again
files the next version beside the first."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from expenses.audit import ExpenseAction
from expenses.exception_queue import expense_panel
from expenses.models import LineState, PeriodReport, PeriodStatus, ReportStatus, Resolution
from expenses.selectors import unclaimed_spend
from expenses.services import reports
from expenses.services.closing import period_close, period_figures, period_reopen
from expenses.services.resolution import line_accept, line_reject
from portal.models import AuditEvent, Role
from tests.expenses.resolution_data import Books, books

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def acme(settings: Any, tmp_path: Any) -> Books:
    settings.ISSUANCE_CHUNK_SIZE = 10
    settings.MEDIA_ROOT = str(tmp_path)
    return books()


def stored_sha256(report: PeriodReport) -> str:
    with report.file.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def a_resolved_month(acme: Books) -> None:
    """Three lines: one matched, one accepted exception, one rejected exception, and ¥30 of
    spend nobody claimed."""
    tx = acme.spend("E001", "100.00", ref="POS-100")
    acme.spend("E002", "30.00")
    acme.line("100.00", matched=[(tx, "100.00")])
    short = acme.line("20.00", state=LineState.NO_SPEND, employee="E002")
    line_accept(line=short, user=acme.finance, note="Cash receipt")
    twice = acme.line("100.00", state=LineState.DUPLICATE, employee="E001")
    line_reject(line=twice, user=acme.finance, note="Claimed twice")


def test_a_period_with_open_exceptions_cannot_close_and_says_how_many_and_where(
    acme: Books,
) -> None:
    acme.line("10.00", state=LineState.NO_SPEND)
    acme.line("12.00", state=LineState.UNKNOWN)
    period = acme.period()

    with pytest.raises(ValidationError) as caught:
        period_close(period=period, user=acme.finance)

    assert caught.value.code == "period_not_ready"
    message = caught.value.messages[0]
    assert "2 claim lines are open exceptions" in message
    assert f"/expenses/periods/{period.month:%Y-%m}/exceptions/" in message
    period.refresh_from_db()
    assert period.status == PeriodStatus.OPEN
    assert not PeriodReport.objects.exists()
    assert not AuditEvent.objects.filter(action=ExpenseAction.PERIOD_CLOSED).exists()


def test_a_period_whose_report_is_still_matching_cannot_close(acme: Books) -> None:
    acme.report("R-9", status=ReportStatus.MATCHING)
    acme.line("10.00", state=LineState.PENDING, report="R-9")

    with pytest.raises(ValidationError, match="1 expense report of the period is still being"):
        period_close(period=acme.period(), user=acme.finance)


def test_closing_files_the_report_as_xlsx_and_pdf_with_their_checksums(acme: Books) -> None:
    a_resolved_month(acme)
    period = acme.period()

    reports = period_close(period=period, user=acme.finance, ip="203.0.113.5")

    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSED
    assert period.closed_by == acme.finance
    assert {(r.version, r.file_format) for r in reports} == {(1, "xlsx"), (1, "pdf")}
    for report in PeriodReport.objects.filter(period=period):
        assert report.file_sha256 == stored_sha256(report)
        assert report.created_by == acme.finance
    pdf = PeriodReport.objects.get(period=period, file_format="pdf")
    with pdf.file.open("rb") as handle:
        assert handle.read(5) == b"%PDF-"
    figures = pdf.figures
    assert figures["version"] == 1
    assert figures["lines"] == {"count": 3, "amount": "220.00", "matched_amount": "100.00"}
    assert figures["states"][LineState.MATCHED] == {"count": 1, "amount": "100.00"}
    assert figures["states"][LineState.DUPLICATE] == {"count": 1, "amount": "100.00"}
    assert figures["resolutions"]["accepted"] == {"count": 1, "amount": "20.00"}
    assert figures["resolutions"]["rejected"] == {"count": 1, "amount": "100.00"}
    assert figures["open_exceptions"] == {"count": 0, "amount": "0.00"}
    assert figures["matched_spend"]["amount"] == "100.00"
    assert figures["unclaimed_spend"] == {"count": 1, "amount": "30.00"}
    (event,) = AuditEvent.objects.filter(action=ExpenseAction.PERIOD_CLOSED)
    assert event.actor == acme.finance
    assert event.ip == "203.0.113.5"
    assert event.changes["files"] == {r.file_format: r.file_sha256 for r in reports}


def test_the_xlsx_lists_every_line_with_identifiers_as_text(acme: Books) -> None:
    a_resolved_month(acme)
    reports = period_close(period=acme.period(), user=acme.finance)
    xlsx = next(r for r in reports if r.file_format == "xlsx")

    with xlsx.file.open("rb") as handle:
        book = openpyxl.load_workbook(io.BytesIO(handle.read()))
    summary, lines = book.worksheets
    assert summary["A1"].value == "Reconciliation report"
    header = [cell.value for cell in lines[1]]
    assert header[:4] == ["Report number", "Line number", "Row", "Employee ID"]
    rows = [list(row) for row in lines.iter_rows(min_row=2)]
    assert len(rows) == 3
    assert all(row[3].data_type == "s" for row in rows)  # employee ids stay text
    amounts = sorted(row[6].value for row in rows)
    assert amounts == [Decimal("20"), Decimal("100"), Decimal("100")]
    assert {row[18].value for row in rows} >= {"Cash receipt", "Claimed twice"}


def test_filed_reports_cannot_be_changed_or_deleted(acme: Books) -> None:
    a_resolved_month(acme)
    period_close(period=acme.period(), user=acme.finance)
    report = PeriodReport.objects.first()
    assert report is not None

    with pytest.raises(DatabaseError), transaction.atomic():
        PeriodReport.objects.filter(pk=report.pk).update(file_sha256="0" * 64)
    with pytest.raises(DatabaseError), transaction.atomic():
        PeriodReport.objects.filter(pk=report.pk).delete()

    report.refresh_from_db()
    assert report.file_sha256 == stored_sha256(report)


def test_a_closed_period_cannot_close_again(acme: Books) -> None:
    a_resolved_month(acme)
    period_close(period=acme.period(), user=acme.finance)

    with pytest.raises(ValidationError, match="is closed") as caught:
        period_close(period=acme.period(), user=acme.finance)
    assert caught.value.code == "period_closed"
    assert PeriodReport.objects.count() == 2


@pytest.mark.parametrize("role", [Role.VIEWER, Role.PURCHASER, Role.APPROVER])
def test_only_finance_and_owners_close(acme: Books, role: str) -> None:
    with pytest.raises(PermissionDenied):
        period_close(period=acme.period(), user=acme.people[role])


def test_reopening_needs_an_owner_and_a_reason(acme: Books) -> None:
    a_resolved_month(acme)
    period = acme.period()
    period_close(period=period, user=acme.finance)

    with pytest.raises(PermissionDenied, match="Only owners"):
        period_reopen(period=period, user=acme.finance, reason="Late receipt")
    with pytest.raises(ValidationError) as caught:
        period_reopen(period=period, user=acme.owner, reason="  ")
    assert caught.value.code == "reason_required"
    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSED

    period_reopen(period=period, user=acme.owner, reason="Late receipt from 张三", ip="::1")

    period.refresh_from_db()
    assert period.status == PeriodStatus.OPEN
    assert period.closed_at is None
    (event,) = AuditEvent.objects.filter(action=ExpenseAction.PERIOD_REOPENED)
    assert event.actor == acme.owner
    assert event.changes["reason"] == "Late receipt from 张三"
    assert event.changes["report_version"] == 1


def test_reopening_an_open_period_is_refused(acme: Books) -> None:
    with pytest.raises(ValidationError, match="nothing to re-open"):
        period_reopen(period=acme.period(), user=acme.owner, reason="why not")


def test_closing_after_a_reopen_files_version_two_beside_version_one(acme: Books) -> None:
    a_resolved_month(acme)
    period = acme.period()
    first = {r.file_format: r.file_sha256 for r in period_close(period=period, user=acme.finance)}
    period_reopen(period=period, user=acme.owner, reason="One more claim")
    late = acme.line("7.00", state=LineState.NO_SPEND)
    line_accept(line=late, user=acme.finance, note="Parking")

    second = period_close(period=period, user=acme.owner)

    assert {r.version for r in second} == {2}
    assert second[0].figures["lines"]["count"] == 4
    versions = PeriodReport.objects.filter(period=period)
    assert sorted((r.version, r.file_format) for r in versions) == [
        (1, "pdf"),
        (1, "xlsx"),
        (2, "pdf"),
        (2, "xlsx"),
    ]
    for report in versions.filter(version=1):
        assert report.file_sha256 == first[report.file_format] == stored_sha256(report)
        assert report.figures["lines"]["count"] == 3


def test_unclaimed_spend_counts_what_refunds_and_claims_left(acme: Books) -> None:
    whole = acme.spend("E001", "80.00")
    part = acme.spend("E001", "50.00")
    refunded = acme.spend("E002", "40.00")
    acme.refund(refunded, "40.00")
    acme.line("80.00", matched=[(whole, "80.00")])
    acme.line("20.00", state=LineState.AMOUNT_DIFFERS, matched=[(part, "20.00")])

    figures = period_figures(acme.period())

    assert figures["unclaimed_spend"] == {"count": 1, "amount": "30.00"}
    assert figures["open_exceptions"] == {"count": 1, "amount": "20.00"}
    assert figures["resolutions"]["open"]["count"] == 2
    assert Resolution.NONE == ""


def test_a_rejected_claim_does_not_cover_its_spend_anywhere(acme: Books) -> None:
    spent = acme.spend("E001", "50.00")
    claim = acme.line("20.00", state=LineState.AMOUNT_DIFFERS, matched=[(spent, "20.00")])
    period = acme.period()
    assert period_figures(period)["unclaimed_spend"] == {"count": 1, "amount": "30.00"}

    line_reject(line=claim, user=acme.finance, note="No receipt")

    # Finance refused the claim: the whole redemption is unclaimed, in every figure.
    assert period_figures(period)["unclaimed_spend"] == {"count": 1, "amount": "50.00"}
    assert unclaimed_spend(company=acme.company, period=period).amount == Decimal("50.00")
    figures = reports.period_figures(company=acme.company, month=period.month)
    assert (figures.total.spent, figures.total.matched, figures.total.unclaimed) == (
        Decimal("50.00"),
        Decimal("0.00"),
        Decimal("50.00"),
    )
    panel = expense_panel(acme.company)
    assert (panel.unclaimed_count, panel.unclaimed_amount) == (1, Decimal("50.00"))
