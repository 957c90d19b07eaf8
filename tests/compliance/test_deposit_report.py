"""Report 1, the deposit (escrow) report: the prepaid balance outstanding at the previous quarter
end from the ledger, the required deposit at the configured ratio, the deposit operators
recorded, and the shortfall."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from compliance.models import DepositRecord
from compliance.periods import previous_quarter
from compliance.reports import deposit
from compliance.services.deposit import deposit_record_create
from portal import days
from portal.errors import DomainError
from portal.models import AuditEvent
from tests import factories

from .report_helpers import (
    CARD_LIABILITY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    figures,
    issued,
    line,
    merchant,
    next_quarter,
    owed,
    spend,
    table,
    this_quarter,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def books() -> dict:
    cards = issued(buyer("Acme"), [line(bearer_product(), "100", 3), line(bearer_product(), "200")])
    spend(cards[0], "30.00", merchant())
    return {"cards": cards, "alice": factories.operator("alice@issuer.example")}


def test_the_base_is_the_ledgers_card_liability_at_the_previous_quarter_end(books) -> None:
    content = deposit.compute(next_quarter())
    got = figures(content)
    assert got["as_of"] == this_quarter().end
    assert got["card_liability"] == owed(CARD_LIABILITY) == Decimal("470.00")
    assert got["expired_liability"] == owed(EXPIRED_LIABILITY) == Decimal("0.00")
    assert got["outstanding"] == Decimal("470.00")
    assert got["ratio"] == Decimal("0.40")
    assert got["required"] == Decimal("188.00")
    assert got["deposit"] == Decimal("0.00")
    assert got["shortfall"] == Decimal("188.00")
    notes = [str(note) for note in content.notes]
    assert "No deposit was recorded on or before the quarter end." in notes


def test_this_quarters_report_shows_what_the_next_quarter_will_require(books) -> None:
    got = figures(deposit.compute(this_quarter()))
    assert got["outstanding"] == Decimal("0.00")  # nothing was issued before this quarter
    assert got["required"] == Decimal("0.00")
    assert got["outstanding_at_end"] == Decimal("470.00")
    assert got["required_next"] == Decimal("188.00")


def test_the_deposit_recorded_counts_escrow_and_guarantee_and_leaves_the_shortfall(
    books, settings
) -> None:
    settings.COMPLIANCE_DEPOSIT_RATIO = Decimal("0.30")
    deposit_record_create(
        operator=books["alice"],
        as_of=days.today(),
        escrow_balance="100.00",
        guarantee_amount="20.00",
        bank="ICBC",
        note="first",
    )
    got = figures(deposit.compute(next_quarter()))
    assert got["required"] == Decimal("141.00")  # 470.00 x 0.30
    assert got["escrow_balance"] == Decimal("100.00")
    assert got["guarantee"] == Decimal("20.00")
    assert got["deposit"] == Decimal("120.00")
    assert got["shortfall"] == Decimal("21.00")
    assert got["deposit_as_of"] == days.today()


def test_a_correction_is_a_new_record_and_the_latest_for_the_date_counts(books) -> None:
    first = deposit_record_create(
        operator=books["alice"], as_of=days.today(), escrow_balance="100.00"
    )
    deposit_record_create(
        operator=books["alice"], as_of=days.today(), escrow_balance="300.00", note="typo fixed"
    )
    assert DepositRecord.objects.count() == 2
    got = figures(deposit.compute(next_quarter()))
    assert got["deposit"] == Decimal("300.00")
    assert got["shortfall"] == Decimal("0.00")
    assert len(table(deposit.compute(this_quarter()), "deposit_records")) == 2
    assert AuditEvent.objects.filter(
        action="compliance.deposit_recorded", object_id=str(first.public_id)
    ).exists()


def test_a_deposit_record_refuses_a_future_date_and_a_negative_balance(books) -> None:
    with pytest.raises(DomainError, match="in the future"):
        deposit_record_create(
            operator=books["alice"],
            as_of=days.today() + datetime.timedelta(days=5),
            escrow_balance="1.00",
        )
    with pytest.raises(DomainError, match="negative"):
        deposit_record_create(
            operator=books["alice"], as_of=datetime.date(2026, 1, 1), escrow_balance="-1.00"
        )
    assert not DepositRecord.objects.exists()


def test_a_record_dated_after_the_quarter_end_does_not_count_for_that_quarter(books) -> None:
    earlier = this_quarter().start - datetime.timedelta(days=1)
    deposit_record_create(operator=books["alice"], as_of=earlier, escrow_balance="50.00")
    deposit_record_create(operator=books["alice"], as_of=days.today(), escrow_balance="70.00")
    last_quarter = figures(deposit.compute(previous_quarter(days.today())))
    assert last_quarter["deposit"] == Decimal("50.00")
    assert figures(deposit.compute(this_quarter()))["deposit"] == Decimal("70.00")
