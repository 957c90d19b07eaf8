"""Large expense reports are checked by the ``expense_report_process`` task, run here in-process
as a worker runs it: the report waits in CHECKING with its message in the outbox, its progress
moves, and it ends handed to matching (or INVALID, or FAILED with a reason), never stuck."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

from typing import Any

import pytest

from expenses import tasks
from expenses.models import ExpenseLine, ExpenseReport, ReportStatus
from expenses.services import intake
from expenses.services.intake import expense_report_progress
from portal.models import OutboxMessage, Role
from tests import factories
from tests.expenses.intake_helpers import ZH, csv_bytes, matching, media, receive, row

__all__ = ["matching", "media"]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing", "media"),
]


@pytest.fixture
def finance():
    return factories.member(factories.company(), Role.FINANCE)


@pytest.fixture
def large(settings):
    """Every report is a large one: checked by the task."""
    settings.EXPENSE_REPORT_INLINE_MAX_BYTES = 0


@pytest.fixture
def seen(monkeypatch) -> list[tuple[int, int, int]]:
    """(done, total, rows_done stored) each time the task's progress is told, every 50 rows."""
    calls: list[tuple[int, int, int]] = []
    original = intake.report_progress_recorder
    monkeypatch.setattr("expenses.services.intake.check.PROGRESS_EVERY", 50)

    def recorder(report_id: int) -> Any:
        record = original(report_id)

        def observe(done: int, total: int) -> None:
            record(done, total)
            stored = ExpenseReport.objects.values_list("rows_done", flat=True).get(pk=report_id)
            calls.append((done, total, stored))

        return observe

    monkeypatch.setattr("expenses.services.intake.report_progress_recorder", recorder)
    return calls


def rows(count: int) -> list[list[str]]:
    return [ZH, *(row(str(n), amount=f"{n}.00") for n in range(1, count + 1))]


def company_of(user):
    return user.memberships.get().company


def test_a_large_report_waits_for_the_worker_with_its_message_in_the_outbox(
    finance, large, matching
):
    report = receive(company_of(finance), finance, csv_bytes(rows(3)))

    assert report.status == ReportStatus.CHECKING
    message = OutboxMessage.objects.get(task="expenses.tasks.expense_report_process")
    assert message.args == [report.pk]
    assert not ExpenseLine.objects.exists()
    assert matching.calls == []
    progress = expense_report_progress(report)
    assert (progress["finished"], progress["stage"], progress["percent"]) == (False, "checking", 0)


def test_the_task_checks_with_moving_progress_then_hands_the_report_to_matching_once(
    finance, large, matching, seen
):
    report = receive(company_of(finance), finance, csv_bytes(rows(500)))
    matching.finish = True

    assert tasks.expense_report_process(report.pk) == "matched"

    assert ExpenseLine.objects.filter(report=report).count() == 500
    assert matching.calls == [report.pk]
    assert matching.progress[0] is not None  # the matching reports its progress the same way
    assert seen[0][:2] == (0, 500)
    assert [done for done, _total, _stored in seen[1:]] == list(range(50, 501, 50))
    assert all(stored == done for done, _total, stored in seen)
    # A second delivery of the message does nothing.
    assert tasks.expense_report_process(report.pk) == "skipped"
    assert matching.calls == [report.pk]


def test_a_report_left_matching_is_matched_again_by_the_task(finance, large, matching):
    report = receive(company_of(finance), finance, csv_bytes(rows(2)))
    tasks.expense_report_process(report.pk)
    assert matching.calls == [report.pk]

    matching.finish = True
    assert tasks.expense_report_process(report.pk) == "matched"

    assert matching.calls == [report.pk, report.pk]
    assert ExpenseLine.objects.filter(report=report).count() == 2


def test_a_report_whose_worker_stopped_before_its_lines_were_written_is_checked_again(
    finance, large, matching
):
    report = receive(company_of(finance), finance, csv_bytes(rows(2)))
    # As a worker stopped while it matched the checked lines leaves it: MATCHING, nothing written.
    ExpenseReport.objects.filter(pk=report.pk).update(status=ReportStatus.MATCHING)
    matching.finish = True

    assert tasks.expense_report_process(report.pk) == "matched"

    assert matching.calls == [report.pk]
    assert ExpenseLine.objects.filter(report=report).count() == 2


def test_a_large_report_with_errors_ends_invalid_without_lines(finance, large, matching):
    report = receive(company_of(finance), finance, csv_bytes([*rows(20), row("21", amount="x")]))

    assert tasks.expense_report_process(report.pk) == "invalid"

    report.refresh_from_db()
    assert report.error_count == 1
    assert report.result["errors"][0]["row"] == 22
    assert not ExpenseLine.objects.exists()
    assert matching.calls == []


def test_a_file_unreadable_half_way_ends_failed_with_the_row(finance, large, matching):
    data = csv_bytes(rows(200)) + csv_bytes([row("201", name="李四")], encoding="gbk")
    report = receive(company_of(finance), finance, data)

    assert tasks.expense_report_process(report.pk) == "failed"

    report.refresh_from_db()
    assert report.failure.startswith("Row 202 is in another text encoding")
    assert not ExpenseLine.objects.exists()


def test_a_breakdown_marks_the_report_failed_with_a_reason(finance, large, monkeypatch):
    def broken(**_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("expenses.services.matching.report_match", broken)
    monkeypatch.setattr("expenses.services.matching.report_match_new_lines", broken)
    report = receive(company_of(finance), finance, csv_bytes(rows(2)))

    with pytest.raises(RuntimeError):
        tasks.expense_report_process(report.pk)

    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert "error on our side" in report.failure


def test_a_discarded_report_is_left_alone_by_the_task(finance, large, matching):
    report = receive(company_of(finance), finance, csv_bytes(rows(2)))
    intake.expense_report_discard(report_id=report.pk, user=finance)

    assert tasks.expense_report_process(report.pk) == "skipped"
    assert not ExpenseLine.objects.exists()


def test_a_small_report_is_checked_in_the_request_and_queues_nothing(finance, matching):
    report = receive(company_of(finance), finance, csv_bytes(rows(2)))

    assert report.status == ReportStatus.MATCHING
    assert not OutboxMessage.objects.filter(task="expenses.tasks.expense_report_process").exists()


def test_when_matching_breaks_down_in_the_request_a_worker_takes_it_over(finance, monkeypatch):
    def broken(**_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("expenses.services.matching.report_match", broken)
    monkeypatch.setattr("expenses.services.matching.report_match_new_lines", broken)

    report = receive(company_of(finance), finance, csv_bytes(rows(2)))

    # Nothing half-written: the lines are written with their answers or not at all, and the
    # worker checks the report again.
    assert report.status == ReportStatus.MATCHING
    assert ExpenseLine.objects.filter(report=report).count() == 0
    message = OutboxMessage.objects.get(task="expenses.tasks.expense_report_process")
    assert message.args == [report.pk]
