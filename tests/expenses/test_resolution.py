"""Finance resolves the exception queue: accept or reject with a note, link by hand to the
company's card spend, unlink, re-open; many lines at once, all or nothing. Every act is audited
(who, when, why); a closed period refuses them all; another company's lines and spend are out of
reach."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from expenses.audit import ExpenseAction
from expenses.models import Evidence, ExpenseLine, ExpenseMatch, LineState, PeriodStatus, Resolution
from expenses.services.resolution import (
    line_accept,
    line_link,
    line_reject,
    line_reopen,
    line_unlink,
    lines_bulk_resolve,
)
from portal.models import AuditEvent, Role
from tests.expenses.resolution_data import Books, books

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def acme(settings: Any) -> Books:
    settings.ISSUANCE_CHUNK_SIZE = 10
    return books()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def code_of(exc: ValidationError) -> str:
    return str(getattr(exc, "code", ""))


# --- Accept, reject, re-open ---------------------------------------------------------------------


def test_accepting_an_exception_records_who_when_and_why(acme: Books) -> None:
    tx = acme.spend("E001", "80.00")
    line = acme.line("88.00", state=LineState.AMOUNT_DIFFERS, matched=[(tx, "80.00")])

    line_accept(line=line, user=acme.finance, note="Tip  included", ip="203.0.113.9")

    line.refresh_from_db()
    assert line.resolution == Resolution.ACCEPTED
    assert line.resolution_note == "Tip included"
    assert line.resolved_by == acme.finance
    assert line.resolved_at is not None
    (event,) = events(ExpenseAction.LINE_ACCEPTED)
    assert event.actor == acme.finance
    assert event.company == acme.company
    assert event.ip == "203.0.113.9"
    assert event.object_id == str(line.public_id)
    assert event.changes["note"] == "Tip included"
    assert event.changes["state"] == LineState.AMOUNT_DIFFERS


@pytest.mark.parametrize("note", ["", "   "])
def test_accepting_or_rejecting_without_a_note_is_refused(acme: Books, note: str) -> None:
    line = acme.line("50.00", state=LineState.NO_SPEND)

    for act in (line_accept, line_reject):
        with pytest.raises(ValidationError) as caught:
            act(line=line, user=acme.finance, note=note)
        assert code_of(caught.value) == "note_required"

    line.refresh_from_db()
    assert line.resolution == Resolution.NONE
    assert not AuditEvent.objects.filter(action__startswith="expense_line.").exists()


def test_a_matched_line_is_not_an_exception_to_accept_but_can_be_rejected(acme: Books) -> None:
    tx = acme.spend("E001", "50.00")
    line = acme.line("50.00", matched=[(tx, "50.00")])

    with pytest.raises(ValidationError, match="not an exception") as caught:
        line_accept(line=line, user=acme.finance, note="fine")
    assert code_of(caught.value) == "line_state"

    line_reject(line=line, user=acme.finance, note="Personal purchase")
    line.refresh_from_db()
    assert line.resolution == Resolution.REJECTED
    assert [e.changes["note"] for e in events(ExpenseAction.LINE_REJECTED)] == ["Personal purchase"]


def test_a_resolved_line_must_be_reopened_before_it_changes(acme: Books) -> None:
    line = acme.line("50.00", state=LineState.UNKNOWN)
    line_reject(line=line, user=acme.finance, note="No such card")

    with pytest.raises(ValidationError, match="Re-open it first"):
        line_accept(line=line, user=acme.finance, note="Changed my mind")

    line_reopen(line=line, user=acme.finance, note="Employee sent the receipt")
    line.refresh_from_db()
    assert line.resolution == Resolution.NONE
    assert line.resolved_by is None
    (event,) = events(ExpenseAction.LINE_REOPENED)
    assert event.changes["previous"] == {"resolution": "rejected", "note": "No such card"}
    assert event.changes["note"] == "Employee sent the receipt"

    line_accept(line=line, user=acme.finance, note="Receipt checked")
    line.refresh_from_db()
    assert line.resolution == Resolution.ACCEPTED


def test_reopening_an_open_line_is_refused(acme: Books) -> None:
    line = acme.line("50.00", state=LineState.UNKNOWN)
    with pytest.raises(ValidationError, match="nothing to re-open"):
        line_reopen(line=line, user=acme.finance)
    assert not events(ExpenseAction.LINE_REOPENED)


def test_a_line_not_matched_yet_cannot_be_resolved(acme: Books) -> None:
    line = acme.line("50.00", state=LineState.PENDING)
    with pytest.raises(ValidationError, match="not matched yet"):
        line_reject(line=line, user=acme.finance, note="x")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.PURCHASER, Role.APPROVER])
def test_only_finance_and_owners_resolve(acme: Books, role: str) -> None:
    line = acme.line("50.00", state=LineState.NO_SPEND)
    with pytest.raises(PermissionDenied):
        line_accept(line=line, user=acme.people[role], note="ok")
    line.refresh_from_db()
    assert line.resolution == Resolution.NONE


def test_a_member_of_another_company_cannot_resolve_its_lines(acme: Books) -> None:
    other = books()
    line = acme.line("50.00", state=LineState.NO_SPEND)
    with pytest.raises(PermissionDenied):
        line_accept(line=line, user=other.finance, note="ok")


# --- Link and unlink -----------------------------------------------------------------------------


def test_linking_by_hand_backs_the_claim_with_the_companys_spend(acme: Books) -> None:
    tx = acme.spend("E001", "120.00")
    line = acme.line("120.00", state=LineState.NO_SPEND)

    match = line_link(line=line, transaction=tx, user=acme.finance, note="Paper receipt", ip="::1")

    assert match.manual is True
    assert match.amount == Decimal("120.00")
    line.refresh_from_db()
    assert line.state == LineState.MATCHED
    assert line.evidence == Evidence.MANUAL
    assert line.card_id == tx.card_id
    assert line.matched_amount == Decimal("120.00")
    assert line.difference == Decimal("0.00")
    (event,) = events(ExpenseAction.LINE_LINKED)
    assert event.changes["transaction"] == str(tx.public_id)
    assert event.changes["before"]["state"] == LineState.NO_SPEND
    assert event.changes["after"]["state"] == LineState.MATCHED
    assert event.changes["note"] == "Paper receipt"


def test_linking_less_spend_than_claimed_leaves_the_amount_differing(acme: Books) -> None:
    tx = acme.spend("E002", "30.00")
    line = acme.line("45.00", state=LineState.NO_SPEND, employee="E002")

    line_link(line=line, transaction=tx, user=acme.finance, note="Part of it")

    line.refresh_from_db()
    assert line.state == LineState.AMOUNT_DIFFERS
    assert line.difference == Decimal("15.00")


def test_a_link_takes_only_what_refunds_and_other_claims_left(acme: Books) -> None:
    tx = acme.spend("E001", "100.00")
    acme.refund(tx, "20.00")
    acme.line("50.00", matched=[(tx, "50.00")])
    line = acme.line("60.00", state=LineState.NO_SPEND)

    match = line_link(line=line, transaction=tx, user=acme.finance, note="Split bill")

    assert match.amount == Decimal("30.00")
    line.refresh_from_db()
    assert line.state == LineState.AMOUNT_DIFFERS
    assert line.difference == Decimal("30.00")


def test_a_transaction_claimed_in_full_cannot_be_linked_again(acme: Books) -> None:
    tx = acme.spend("E001", "40.00")
    acme.line("40.00", matched=[(tx, "40.00")])
    line = acme.line("40.00", state=LineState.NO_SPEND)

    with pytest.raises(ValidationError, match="already claimed in full") as caught:
        line_link(line=line, transaction=tx, user=acme.finance, note="again")

    assert code_of(caught.value) == "fully_claimed"
    assert not ExpenseMatch.objects.filter(line=line).exists()
    assert not events(ExpenseAction.LINE_LINKED)


def test_another_companys_transaction_cannot_be_linked(acme: Books) -> None:
    other = books()
    foreign = other.spend("E001", "40.00")
    line = acme.line("40.00", state=LineState.NO_SPEND)

    with pytest.raises(ValidationError, match="No card spend of your company") as caught:
        line_link(line=line, transaction=foreign, user=acme.finance, note="hm")

    assert code_of(caught.value) == "unknown_transaction"
    assert not ExpenseMatch.objects.exists()


def test_unlinking_a_wrong_match_restates_the_line(acme: Books) -> None:
    right = acme.spend("E002", "70.00")
    wrong = acme.spend("E001", "70.00")
    line = acme.line(
        "70.00", state=LineState.OTHER_EMPLOYEE, employee="E002", matched=[(wrong, "70.00")]
    )

    line_unlink(line=line, transaction=wrong, user=acme.finance, note="Not hers")
    line.refresh_from_db()
    assert line.state == LineState.NO_SPEND
    assert line.card is None
    assert line.matched_amount == Decimal("0.00")
    (event,) = events(ExpenseAction.LINE_UNLINKED)
    assert event.changes["removed"] == {"amount": "70.00", "manual": False}

    line_link(line=line, transaction=right, user=acme.finance, note="Her own card")
    line.refresh_from_db()
    assert line.state == LineState.MATCHED


def test_unlinking_a_transaction_the_line_is_not_linked_to_is_refused(acme: Books) -> None:
    tx = acme.spend("E001", "10.00")
    line = acme.line("10.00", state=LineState.NO_SPEND)
    with pytest.raises(ValidationError, match="not linked to this transaction"):
        line_unlink(line=line, transaction=tx, user=acme.finance)


# --- A closed period is frozen -------------------------------------------------------------------


def test_every_act_is_refused_in_a_closed_period(acme: Books) -> None:
    tx = acme.spend("E001", "10.00")
    spare = acme.spend("E001", "25.00")
    open_line = acme.line("25.00", state=LineState.NO_SPEND)
    linked = acme.line("10.00", state=LineState.AMOUNT_DIFFERS, matched=[(tx, "9.00")])
    resolved = acme.line("12.00", state=LineState.UNKNOWN)
    line_reject(line=resolved, user=acme.finance, note="No card")
    acme.period().__class__.objects.filter(pk=acme.period().pk).update(status=PeriodStatus.CLOSED)
    before = AuditEvent.objects.count()

    attempts = [
        lambda: line_accept(line=open_line, user=acme.finance, note="x"),
        lambda: line_reject(line=open_line, user=acme.finance, note="x"),
        lambda: line_link(line=open_line, transaction=spare, user=acme.finance, note="x"),
        lambda: line_unlink(line=linked, transaction=tx, user=acme.finance),
        lambda: line_reopen(line=resolved, user=acme.finance),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError, match="is closed") as caught:
            attempt()
        assert code_of(caught.value) == "period_closed"
    with pytest.raises(ValidationError, match="is closed"):
        lines_bulk_resolve(
            company=acme.company,
            line_ids=[open_line.public_id],
            action="accept",
            user=acme.finance,
            note="x",
        )

    assert AuditEvent.objects.count() == before
    open_line.refresh_from_db()
    assert open_line.resolution == Resolution.NONE
    assert ExpenseMatch.objects.filter(line=linked).count() == 1


# --- Many at once ---------------------------------------------------------------------------------


def test_bulk_accept_resolves_every_line_and_audits_each(acme: Books) -> None:
    lines = [acme.line("5.00", state=LineState.NO_SPEND) for _ in range(3)]

    done = lines_bulk_resolve(
        company=acme.company,
        line_ids=[str(line.public_id) for line in lines],
        action="accept",
        user=acme.finance,
        note="Small taxi fares",
        ip="198.51.100.1",
    )

    assert len(done) == 3
    assert set(
        ExpenseLine.objects.filter(pk__in=[x.pk for x in lines]).values_list(
            "resolution", flat=True
        )
    ) == {Resolution.ACCEPTED}
    accepted = events(ExpenseAction.LINE_ACCEPTED)
    assert sorted(e.object_id for e in accepted) == sorted(str(x.public_id) for x in lines)
    assert all(e.changes["bulk"] and e.changes["note"] == "Small taxi fares" for e in accepted)


def test_bulk_is_all_or_nothing_and_names_the_offending_lines(acme: Books) -> None:
    tx = acme.spend("E001", "5.00")
    good = acme.line("5.00", state=LineState.NO_SPEND)
    matched = acme.line("5.00", matched=[(tx, "5.00")])
    stranger = books().line("5.00", state=LineState.NO_SPEND)

    with pytest.raises(ValidationError) as caught:
        lines_bulk_resolve(
            company=acme.company,
            line_ids=[good.public_id, matched.public_id, stranger.public_id, "not-an-id"],
            action="accept",
            user=acme.finance,
            note="ok",
        )

    assert code_of(caught.value) == "bulk_refused"
    text = " ".join(caught.value.messages)
    assert "3 lines cannot be accepted" in text
    assert f"line {matched.line_number} (row {matched.row_number})" in text
    assert f"{stranger.public_id}: not found in your company" in text
    assert "not-an-id" in text
    assert f"line {good.line_number} (row" not in text
    good.refresh_from_db()
    assert good.resolution == Resolution.NONE
    assert not events(ExpenseAction.LINE_ACCEPTED)


def test_bulk_reopen_needs_no_note_but_resolved_lines(acme: Books) -> None:
    first = acme.line("5.00", state=LineState.NO_SPEND)
    second = acme.line("6.00", state=LineState.NO_SPEND)
    lines_bulk_resolve(
        company=acme.company,
        line_ids=[first.public_id, second.public_id],
        action="reject",
        user=acme.finance,
        note="No receipts",
    )

    lines_bulk_resolve(
        company=acme.company,
        line_ids=[first.public_id, second.public_id],
        action="reopen",
        user=acme.finance,
        note="",
    )

    assert set(
        ExpenseLine.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "resolution", flat=True
        )
    ) == {Resolution.NONE}
    assert len(events(ExpenseAction.LINE_REOPENED)) == 2
    with pytest.raises(ValidationError, match="not resolved"):
        lines_bulk_resolve(
            company=acme.company,
            line_ids=[first.public_id],
            action="reopen",
            user=acme.finance,
            note="",
        )
