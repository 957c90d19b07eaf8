"""The matching engine: each state a claim line can end in, with its evidence; splits both ways;
refunds, voids and captured holds; another company's cards; the window setting."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings

from expenses.audit import ExpenseAction
from expenses.models import Evidence, ExpenseMatch, LineState, ReportStatus
from portal.models import AuditEvent
from tests.expenses.matching_helpers import (
    day_of,
    hold_and_capture,
    lines_of,
    match,
    redeem,
    refund,
    report,
    void,
    world,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def test_a_claim_naming_the_merchant_order_reference_is_matched_to_that_redemption() -> None:
    w = world()
    holder = w.card("E001")
    tx = redeem(w, holder, "88.50", ref="JD-20261204-7")

    made = match(report(w, {"amount": "88.50", "merchant_reference": "JD-20261204-7"}))

    assert made.status == ReportStatus.MATCHED
    assert made.matched_at is not None
    assert made.result["states"] == {LineState.MATCHED: 1}
    [line] = lines_of(made)
    assert (line.state, line.evidence, line.card_id) == (
        LineState.MATCHED,
        Evidence.REFERENCE,
        holder.card.pk,
    )
    assert (line.matched_amount, line.difference) == (Decimal("88.50"), Decimal("0.00"))
    [m] = ExpenseMatch.objects.filter(line=line)
    assert (m.transaction_id, m.amount, m.manual, m.line.company_id) == (
        tx.pk,
        Decimal("88.50"),
        False,
        w.company.pk,
    )
    event = AuditEvent.objects.get(action=ExpenseAction.REPORT_MATCHED)
    assert event.company_id == w.company.pk
    assert event.object_id == str(made.public_id)


def test_a_claim_with_the_card_serial_amount_and_date_is_matched_by_the_serial() -> None:
    w = world({"E001": 2})
    holder = w.card("E001", 1)
    redeem(w, w.card("E001", 0), "40.00")
    tx = redeem(w, holder, "40.00")

    [line] = lines_of(match(report(w, {"amount": "40.00", "card_serial": holder.serial})))

    assert (line.state, line.evidence, line.card_id) == (
        LineState.MATCHED,
        Evidence.SERIAL,
        holder.card.pk,
    )
    assert ExpenseMatch.objects.get(line=line).transaction_id == tx.pk


def test_a_claim_with_the_last_four_digits_takes_the_employees_card_ending_so() -> None:
    w = world({"E001": 3})
    holder = w.card("E001", 2)
    tx = redeem(w, holder, "66.60")

    [line] = lines_of(match(report(w, {"amount": "66.60", "card_last4": holder.last4})))

    assert (line.state, line.evidence, line.card_id) == (
        LineState.MATCHED,
        Evidence.LAST4,
        holder.card.pk,
    )
    assert ExpenseMatch.objects.get(line=line).transaction_id == tx.pk


def test_a_claim_with_no_identifier_is_matched_among_the_employees_cards_by_amount_and_date() -> (
    None
):
    w = world({"E001": 2, "E002": 1})
    redeem(w, w.card("E002"), "25.00")  # the same amount, another employee's card
    tx = redeem(w, w.card("E001", 1), "25.00")

    [line] = lines_of(match(report(w, {"amount": "25.00", "employee_id": "E001"})))

    assert (line.state, line.evidence) == (LineState.MATCHED, Evidence.EMPLOYEE)
    assert ExpenseMatch.objects.get(line=line).transaction_id == tx.pk


def test_spend_outside_the_configured_window_of_days_is_not_found(settings: Settings) -> None:
    w = world()
    tx = redeem(w, w.card("E001"), "30.00")
    spent = day_of(tx)
    settings.EXPENSE_MATCH_DAYS = 3

    made = match(
        report(
            w,
            {"amount": "30.00", "expense_date": spent + datetime.timedelta(days=4)},
            {"amount": "30.00", "expense_date": spent - datetime.timedelta(days=3)},
        )
    )

    far, near = lines_of(made)
    assert (far.state, far.evidence) == (LineState.NO_SPEND, Evidence.EMPLOYEE)
    assert near.state == LineState.MATCHED


def test_a_claim_above_the_spend_differs_by_the_claim_less_the_spend() -> None:
    w = world()
    tx = redeem(w, w.card("E001"), "100.00", ref="T-1")

    [line] = lines_of(match(report(w, {"amount": "120.00", "merchant_reference": "T-1"})))

    assert (line.state, line.evidence) == (LineState.AMOUNT_DIFFERS, Evidence.REFERENCE)
    assert (line.matched_amount, line.difference) == (Decimal("100.00"), Decimal("20.00"))
    assert ExpenseMatch.objects.get(line=line).transaction_id == tx.pk


def test_a_serial_or_reference_of_another_employees_card_is_flagged_with_that_card() -> None:
    w = world({"E001": 1, "E002": 1})
    theirs = w.card("E002")
    redeem(w, theirs, "50.00", ref="T-2")

    by_serial, by_reference = lines_of(
        match(
            report(
                w,
                {"employee_id": "E001", "amount": "50.00", "card_serial": theirs.serial},
                {"employee_id": "E001", "amount": "50.00", "merchant_reference": "T-2"},
            )
        )
    )

    assert (by_serial.state, by_serial.evidence, by_serial.card_id) == (
        LineState.OTHER_EMPLOYEE,
        Evidence.SERIAL,
        theirs.card.pk,
    )
    assert (by_reference.state, by_reference.evidence, by_reference.card_id) == (
        LineState.OTHER_EMPLOYEE,
        Evidence.REFERENCE,
        theirs.card.pk,
    )
    assert not ExpenseMatch.objects.exists()


def test_a_serial_last_four_or_reference_the_company_does_not_have_is_unknown() -> None:
    w = world({"E001": 1})
    other = world({"E001": 1}, key=w.key)  # another company, the same employee id
    redeem(other, other.card("E001"), "10.00", ref="THEIRS-1")
    ours = w.card("E001")
    wrong_last4 = "0000" if ours.last4 != "0000" else "1111"

    lines = lines_of(
        match(
            report(
                w,
                {"amount": "10.00", "card_serial": other.card("E001").serial},
                {"amount": "10.00", "card_serial": "not-a-serial"},
                {"amount": "10.00", "merchant_reference": "THEIRS-1"},
                {"amount": "10.00", "card_last4": wrong_last4},
            )
        )
    )

    assert [(line.state, line.evidence) for line in lines] == [
        (LineState.UNKNOWN, Evidence.SERIAL),
        (LineState.UNKNOWN, Evidence.SERIAL),
        (LineState.UNKNOWN, Evidence.REFERENCE),
        (LineState.UNKNOWN, Evidence.LAST4),
    ]
    assert all(line.card_id is None for line in lines)


def test_another_companys_spend_is_never_matched_even_for_the_same_employee_id() -> None:
    w = world({"E001": 1})
    other = world({"E001": 1}, key=w.key)
    redeem(other, other.card("E001"), "77.00")

    [line] = lines_of(match(report(w, {"amount": "77.00", "employee_id": "E001"})))

    assert (line.state, line.card_id) == (LineState.NO_SPEND, None)
    assert not ExpenseMatch.objects.exists()


def test_a_claim_with_no_spend_at_all_is_no_spend_found() -> None:
    w = world()
    holder = w.card("E001")

    by_employee, by_serial = lines_of(
        match(
            report(
                w,
                {"amount": "12.00"},
                {"amount": "12.00", "card_serial": holder.serial},
            )
        )
    )

    assert (by_employee.state, by_employee.evidence) == (LineState.NO_SPEND, Evidence.EMPLOYEE)
    assert (by_serial.state, by_serial.evidence, by_serial.card_id) == (
        LineState.NO_SPEND,
        Evidence.SERIAL,
        holder.card.pk,
    )


# --- Splits ---------------------------------------------------------------------------------------


def test_several_claim_lines_share_one_redemption_never_beyond_its_amount() -> None:
    w = world()
    tx = redeem(w, w.card("E001"), "300.00", ref="DINNER-1")

    lines = lines_of(
        match(
            report(
                w,
                {"amount": "100.00", "merchant_reference": "DINNER-1"},
                {"amount": "120.00", "merchant_reference": "DINNER-1"},
                {"amount": "80.00", "merchant_reference": "DINNER-1"},
                {"amount": "50.00", "merchant_reference": "DINNER-1"},
            )
        )
    )

    assert [line.state for line in lines] == [LineState.MATCHED] * 3 + [LineState.DUPLICATE]
    assert lines[3].duplicate_of_id == lines[0].pk
    allocated = [m.amount for m in ExpenseMatch.objects.filter(transaction=tx)]
    assert sorted(allocated) == [Decimal("80.00"), Decimal("100.00"), Decimal("120.00")]
    assert sum(allocated) == Decimal("300.00")


def test_one_claim_line_takes_several_redemptions_of_the_employee_on_one_day() -> None:
    w = world({"E001": 2})
    first = redeem(w, w.card("E001", 0), "60.00")
    second = redeem(w, w.card("E001", 1), "40.00")

    [line] = lines_of(match(report(w, {"amount": "100.00"})))

    assert (line.state, line.matched_amount, line.difference) == (
        LineState.MATCHED,
        Decimal("100.00"),
        Decimal("0.00"),
    )
    assert sorted(
        ExpenseMatch.objects.filter(line=line).values_list("transaction_id", "amount")
    ) == [(first.pk, Decimal("60.00")), (second.pk, Decimal("40.00"))]


def test_two_equal_claims_take_two_equal_redemptions_one_each() -> None:
    w = world()
    a = redeem(w, w.card("E001"), "35.00")
    b = redeem(w, w.card("E001"), "35.00")

    lines = lines_of(match(report(w, {"amount": "35.00"}, {"amount": "35.00"})))

    assert [line.state for line in lines] == [LineState.MATCHED, LineState.MATCHED]
    taken = ExpenseMatch.objects.order_by("line__row_number").values_list(
        "transaction_id", flat=True
    )
    assert list(taken) == [a.pk, b.pk]


# --- What a redemption is worth -------------------------------------------------------------------


def test_refunds_are_netted_off_their_redemption() -> None:
    w = world()
    tx = redeem(w, w.card("E001"), "100.00", ref="R-NET")
    refund(w, tx, "30.00")

    net, full = lines_of(
        match(
            report(
                w,
                {"amount": "70.00", "merchant_reference": "R-NET"},
                {"amount": "100.00", "merchant_reference": "R-NET", "fapiao_number": "F-9"},
            )
        )
    )

    assert net.state == LineState.MATCHED
    assert full.state == LineState.DUPLICATE  # the 70 left is claimed by the first line


def test_a_refund_leaves_a_claim_of_the_gross_amount_differing_by_the_refund() -> None:
    w = world()
    tx = redeem(w, w.card("E001"), "100.00", ref="R-GROSS")
    refund(w, tx, "30.00")

    [line] = lines_of(match(report(w, {"amount": "100.00", "merchant_reference": "R-GROSS"})))

    assert (line.state, line.difference) == (LineState.AMOUNT_DIFFERS, Decimal("30.00"))


def test_a_voided_redemption_is_no_spend() -> None:
    w = world()
    tx = redeem(w, w.card("E001"), "45.00", ref="VOIDED-1")
    void(w, tx)

    by_reference, by_employee = lines_of(
        match(
            report(
                w,
                {"amount": "45.00", "merchant_reference": "VOIDED-1"},
                {"amount": "45.00"},
            )
        )
    )

    assert (by_reference.state, by_reference.evidence) == (LineState.NO_SPEND, Evidence.REFERENCE)
    assert by_employee.state == LineState.NO_SPEND


def test_a_captured_hold_is_spend_like_a_redemption() -> None:
    w = world()
    tx = hold_and_capture(w, w.card("E001"), "200.00", "150.00", ref="HOTEL-88")

    [line] = lines_of(match(report(w, {"amount": "150.00", "merchant_reference": "HOTEL-88"})))

    assert line.state == LineState.MATCHED
    assert ExpenseMatch.objects.get(line=line).transaction_id == tx.pk


def test_a_claim_naming_only_the_employee_needs_the_exact_amount() -> None:
    w = world()
    redeem(w, w.card("E001"), "300.00")

    smaller, larger = lines_of(match(report(w, {"amount": "30.00"}, {"amount": "320.00"})))

    assert (smaller.state, larger.state) == (LineState.NO_SPEND, LineState.NO_SPEND)


def test_a_claim_naming_the_card_may_take_part_of_a_larger_redemption() -> None:
    w = world()
    holder = w.card("E001")
    tx = redeem(w, holder, "300.00")

    [line] = lines_of(match(report(w, {"amount": "30.00", "card_serial": holder.serial})))

    assert (line.state, line.matched_amount) == (LineState.MATCHED, Decimal("30.00"))
    assert ExpenseMatch.objects.get(line=line).transaction_id == tx.pk
