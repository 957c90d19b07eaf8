"""Matching across reports and runs: duplicates of earlier reports (by spend and by fapiao), the
same result on a re-run, and what a re-run leaves alone (manual matches, resolved lines, closed
periods)."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest

from expenses.models import (
    Evidence,
    ExpenseLine,
    ExpenseMatch,
    ExpenseReport,
    LineState,
    ReportStatus,
    Resolution,
)
from expenses.services.matching import report_match
from tests.expenses.matching_helpers import close, lines_of, match, redeem, report, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def outcome(made: ExpenseReport) -> list[tuple[object, ...]]:
    return [
        (
            line.row_number,
            line.state,
            line.evidence,
            line.card_id,
            line.matched_amount,
            line.difference,
            line.duplicate_of_id,
            sorted(line.matches.values_list("transaction_id", "amount", "manual")),
        )
        for line in lines_of(made)
    ]


def test_the_same_spend_claimed_again_in_this_report_is_a_duplicate_of_the_first_claim() -> None:
    w = world()
    redeem(w, w.card("E001"), "58.00", ref="TAXI-1")

    first, again = lines_of(
        match(
            report(
                w,
                {"amount": "58.00", "merchant_reference": "TAXI-1"},
                {"amount": "58.00", "merchant_reference": "TAXI-1", "employee_id": "E001"},
            )
        )
    )

    assert first.state == LineState.MATCHED
    assert (again.state, again.evidence, again.duplicate_of_id) == (
        LineState.DUPLICATE,
        Evidence.REFERENCE,
        first.pk,
    )
    assert not again.matches.exists()


def test_spend_claimed_in_an_earlier_report_is_a_duplicate_whoever_claims_it_again() -> None:
    w = world({"E001": 1, "E002": 1})
    holder = w.card("E001")
    redeem(w, holder, "99.00")
    earlier = match(report(w, {"amount": "99.00", "employee_id": "E001"}))
    [claimed] = lines_of(earlier)

    later = match(
        report(
            w,
            {"amount": "99.00", "employee_id": "E001"},
            {"amount": "99.00", "employee_id": "E001", "card_serial": holder.serial},
        )
    )

    assert [(line.state, line.duplicate_of_id) for line in lines_of(later)] == [
        (LineState.DUPLICATE, claimed.pk),
        (LineState.DUPLICATE, claimed.pk),
    ]
    assert later.result["states"] == {LineState.DUPLICATE: 2}
    # The earlier report, matched again, still has its claim: it does not see later reports.
    before = outcome(earlier)
    assert outcome(report_match(report_id=earlier.pk)) == before
    assert before[0][1] == LineState.MATCHED


def test_a_fapiao_number_claimed_before_is_a_duplicate_even_with_other_spend() -> None:
    w = world({"E001": 1, "E002": 1})
    redeem(w, w.card("E001"), "20.00")
    redeem(w, w.card("E002"), "20.00")
    earlier = match(report(w, {"amount": "20.00", "fapiao_number": "04400123"}))

    later = match(
        report(
            w,
            {"amount": "20.00", "employee_id": "E002", "fapiao_number": "04400123"},
            {"amount": "20.00", "employee_id": "E002", "fapiao_number": "04400999"},
            {"amount": "5.00", "employee_id": "E002", "fapiao_number": "04400999"},
        )
    )

    again, fresh, same_fapiao = lines_of(later)
    assert (again.state, again.evidence, again.duplicate_of_id) == (
        LineState.DUPLICATE,
        Evidence.FAPIAO,
        lines_of(earlier)[0].pk,
    )
    assert fresh.state == LineState.MATCHED  # E002's 20.00 was free
    assert (same_fapiao.state, same_fapiao.duplicate_of_id) == (LineState.DUPLICATE, fresh.pk)


def test_a_discarded_reports_claims_are_not_seen() -> None:
    w = world()
    redeem(w, w.card("E001"), "15.00")
    discarded = match(report(w, {"amount": "15.00", "fapiao_number": "X1"}))
    discarded.status = ReportStatus.DISCARDED
    discarded.save(update_fields=["status"])

    [line] = lines_of(match(report(w, {"amount": "15.00", "fapiao_number": "X1"})))

    assert line.state == LineState.MATCHED


def test_matching_a_report_again_gives_the_same_result() -> None:
    w = world({"E001": 2, "E002": 1})
    redeem(w, w.card("E001", 0), "60.00")
    redeem(w, w.card("E001", 1), "40.00")
    redeem(w, w.card("E002"), "300.00", ref="DINNER")
    made = report(
        w,
        {"amount": "100.00"},
        {"amount": "150.00", "employee_id": "E002", "merchant_reference": "DINNER"},
        {"amount": "150.00", "employee_id": "E002", "merchant_reference": "DINNER"},
        {"amount": "10.00", "employee_id": "E002", "merchant_reference": "DINNER"},
        {"amount": "10.00", "merchant_reference": "NOPE"},
        {"amount": "10.00", "fapiao_number": "F1"},
        {"amount": "10.00", "fapiao_number": "F1"},
    )
    first = outcome(match(made))
    matches = ExpenseMatch.objects.count()

    again = report_match(report_id=made.pk)

    assert outcome(again) == first
    assert ExpenseMatch.objects.count() == matches == 4
    assert again.status == ReportStatus.MATCHED
    assert [row[1] for row in first] == [
        LineState.MATCHED,
        LineState.MATCHED,
        LineState.MATCHED,
        LineState.DUPLICATE,
        LineState.UNKNOWN,
        LineState.NO_SPEND,  # E001 spent no 10.00 (and the 60 + 40 are claimed)
        LineState.DUPLICATE,
    ]


def test_a_re_run_keeps_manual_matches_resolved_lines_and_closed_periods_as_they_are() -> None:
    w = world()
    spend = redeem(w, w.card("E001"), "70.00", ref="LINKED")
    made = report(
        w,
        {"amount": "70.00", "merchant_reference": "LINKED"},
        {"amount": "70.00", "merchant_reference": "LINKED"},
        {"amount": "5.00"},
    )
    match(made)
    manual_line, resolved_line, _free = lines_of(made)
    # Finance links the first line by hand and accepts the second (which matching called a
    # duplicate) with a note; then the report is matched again.
    ExpenseMatch.objects.filter(line=manual_line).update(manual=True)
    ExpenseLine.objects.filter(pk=manual_line.pk).update(evidence=Evidence.MANUAL)
    ExpenseLine.objects.filter(pk=resolved_line.pk).update(
        resolution=Resolution.ACCEPTED, resolution_note="shared taxi"
    )

    report_match(report_id=made.pk)

    manual_line.refresh_from_db()
    resolved_line.refresh_from_db()
    assert (manual_line.state, manual_line.evidence) == (LineState.MATCHED, Evidence.MANUAL)
    assert list(manual_line.matches.values_list("transaction_id", "amount", "manual")) == [
        (spend.pk, Decimal("70.00"), True)
    ]
    assert (resolved_line.state, resolved_line.resolution) == (
        LineState.DUPLICATE,
        Resolution.ACCEPTED,
    )


def test_lines_of_a_closed_period_are_never_touched() -> None:
    w = world()
    made = report(w, {"amount": "9.00"})
    match(made)
    [line] = lines_of(made)
    assert line.state == LineState.NO_SPEND
    redeem(w, w.card("E001"), "9.00")
    close(line.period)

    report_match(report_id=made.pk)

    line.refresh_from_db()
    assert line.state == LineState.NO_SPEND
    assert not ExpenseMatch.objects.exists()


def test_spend_that_appears_later_is_found_when_the_report_is_matched_again() -> None:
    w = world()
    made = report(w, {"amount": "9.00"})
    match(made)
    redeem(w, w.card("E001"), "9.00")

    [line] = lines_of(report_match(report_id=made.pk))

    assert line.state == LineState.MATCHED


def test_progress_is_reported_up_to_every_line() -> None:
    w = world()
    made = report(w, *({"amount": "1.00"} for _ in range(5)))
    seen: list[tuple[int, int]] = []

    report_match(report_id=made.pk, progress=lambda done, total: seen.append((done, total)))

    assert seen[-1] == (5, 5)
    assert [done for done, _total in seen] == sorted(done for done, _total in seen)
    assert all(total == 5 for _done, total in seen)


def test_a_report_discarded_while_it_was_matched_is_left_as_it_is() -> None:
    w = world()
    redeem(w, w.card("E001"), "9.00")
    made = report(w, {"amount": "9.00"})

    def discard_meanwhile(done: int, total: int) -> None:
        if done < total:
            ExpenseReport.objects.filter(pk=made.pk).update(status=ReportStatus.DISCARDED)

    after = report_match(report_id=made.pk, progress=discard_meanwhile)

    assert after.status == ReportStatus.DISCARDED
    assert [line.state for line in lines_of(made)] == [LineState.PENDING]
    assert not ExpenseMatch.objects.exists()


def test_only_a_checked_report_is_matched() -> None:
    w = world()
    made = report(w, {"amount": "9.00"})
    ExpenseReport.objects.filter(pk=made.pk).update(status=ReportStatus.CHECKING)

    with pytest.raises(ValueError, match="only a checked report"):
        report_match(report_id=made.pk)
