"""Filing: a filed report is immutable (the database refuses UPDATE and DELETE), a correction is
the next version with its reason, the same period computes to the same content and the same
XLSX, the files carry the content's SHA-256, and every filing and download is audited."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.utils import translation

from compliance.canonical import sha256_hex
from compliance.models import FiledReport, ImmutableRow
from compliance.services.deposit import deposit_record_create
from compliance.services.filing import (
    filed_report_download,
    filed_report_reproduce,
    report_compute,
    report_file,
)
from portal.errors import DomainError, StateConflict
from portal.models import AuditEvent
from tests import factories

from .report_helpers import (
    after,
    bearer_product,
    buyer,
    issued,
    line,
    merchant,
    pdf_text,
    same_value,
    spend,
    this_quarter,
    xlsx_rows,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def books() -> dict:
    cards = issued(buyer("Acme"), [line(bearer_product(), "100", 3), line(bearer_product(), "200")])
    spend(cards[0], "30.00", merchant())
    alice = factories.operator("alice@issuer.example")
    period = this_quarter()
    deposit_record_create(operator=alice, as_of=period.start, escrow_balance="150.00")
    return {"alice": alice, "period": period}


def file_deposit(books: dict, reason: str = "") -> FiledReport:
    return report_file(
        kind="deposit",
        period=books["period"],
        operator=books["alice"],
        reason=reason,
        now=after(books["period"]),
    )


def test_computing_twice_gives_the_same_content_and_the_filed_xlsx_again(books) -> None:
    first = report_compute(kind="deposit", period=books["period"])
    filed = file_deposit(books)
    second = report_compute(kind="deposit", period=books["period"])
    assert first.json == second.json == filed.content_json
    assert filed.content_sha256 == sha256_hex(filed.content_json) == second.sha256
    recomputed, xlsx = filed_report_reproduce(filed)
    assert recomputed.sha256 == filed.content_sha256
    assert sha256_hex(xlsx) == filed.xlsx_sha256 == sha256_hex(bytes(filed.xlsx))
    assert sha256_hex(bytes(filed.pdf)) == filed.pdf_sha256
    content = json.loads(filed.content_json)
    assert {
        "key": "outstanding_at_end",
        "label": "Prepaid balance outstanding at the quarter end",
        "value": "470.00",
    } in (content["figures"])


def test_a_filed_report_cannot_be_changed_or_deleted_not_even_in_the_database(books) -> None:
    filed = file_deposit(books)
    with pytest.raises(ImmutableRow):
        filed.save()
    with pytest.raises(ImmutableRow):
        filed.delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        FiledReport.objects.filter(pk=filed.pk).update(content_sha256="0" * 64)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        FiledReport.objects.filter(pk=filed.pk)._raw_delete(FiledReport.objects.db)
    assert FiledReport.objects.get().content_sha256 == filed.content_sha256


def test_a_correction_is_version_two_with_its_reason_and_the_first_stays(books) -> None:
    first = file_deposit(books)
    with pytest.raises(DomainError, match="give the reason for the correction"):
        file_deposit(books)
    with pytest.raises(StateConflict, match="same as in version 1"):
        file_deposit(books, reason="Re-run")
    deposit_record_create(
        operator=books["alice"],
        as_of=books["period"].start,
        escrow_balance="200.00",
        note="bank statement corrected",
    )
    second = file_deposit(books, reason="Escrow balance corrected by the bank")
    assert (second.version, second.supersedes_id) == (2, first.pk)
    assert second.correction_reason == "Escrow balance corrected by the bank"
    assert second.content_sha256 != first.content_sha256
    assert FiledReport.objects.get(pk=first.pk).content_sha256 == first.content_sha256
    events = AuditEvent.objects.filter(action="compliance.report_filed").order_by("pk")
    assert [e.changes["version"] for e in events] == [1, 2]
    assert events[1].changes["reason"] == "Escrow balance corrected by the bank"
    assert events[1].object_id == str(second.public_id)
    assert events[1].actor == books["alice"]


def test_a_period_not_over_is_not_filed(books) -> None:
    with pytest.raises(DomainError, match="once the period is over"):
        report_file(kind="deposit", period=books["period"], operator=books["alice"])
    assert not FiledReport.objects.exists()


def test_the_xlsx_read_back_equals_the_content(books) -> None:
    filed = file_deposit(books)
    computed = report_compute(kind="deposit", period=books["period"])
    rows = xlsx_rows(bytes(filed.xlsx))
    assert rows[0][0] == "Deposit (escrow) report"
    assert [r[0] for r in rows[1:5]] == [
        "Period",
        "Version",
        "SHA-256 of the content",
        "Generated at",
    ]
    assert rows[3][1] == filed.content_sha256
    assert rows[2][1] == 1
    at = next(i for i, r in enumerate(rows) if r and r[0] == "Figures")
    for offset, figure in enumerate(computed.content.figures, start=1):
        label, value = rows[at + offset][:2]
        assert label == str(figure.label)
        assert same_value(value, figure.value), (figure.key, value, figure.value)
    table = computed.content.tables[0]
    title_at = next(i for i, r in enumerate(rows) if r and r[0] == str(table.title))
    assert [c for c in rows[title_at + 1] if c is not None] == [str(c) for c in table.columns]
    record = rows[title_at + 2]
    assert same_value(record[0], table.rows[0][0])
    assert same_value(record[1], Decimal("150.00"))


def test_the_pdf_shows_the_sha256_period_and_version_in_english_and_chinese(books) -> None:
    filed = file_deposit(books)
    text = pdf_text(bytes(filed.pdf))
    assert filed.content_sha256 in text
    assert "Version" in text
    assert "Deposit (escrow) report" in text
    assert books["period"].start.isoformat() in text
    deposit_record_create(
        operator=books["alice"], as_of=books["period"].start, escrow_balance="1.00"
    )
    with translation.override("zh-hans"):
        second = file_deposit(books, reason="更正")
    assert second.language == "zh-hans"
    text = pdf_text(bytes(second.pdf))
    assert second.content_sha256 in text
    assert "版本" in text
    assert "期间" in text
    rows = xlsx_rows(bytes(second.xlsx))
    assert rows[1][0] == "期间"
    assert rows[2][0] == "版本"


def test_a_download_is_the_filed_file_and_is_audited(books) -> None:
    filed = file_deposit(books)
    data = filed_report_download(filed=filed, fmt="pdf", operator=books["alice"], ip="10.0.0.1")
    assert sha256_hex(data) == filed.pdf_sha256
    event = AuditEvent.objects.get(action="compliance.report_downloaded")
    assert event.changes == {"format": "pdf", "version": 1, "kind": "deposit"}
    assert event.ip == "10.0.0.1"
