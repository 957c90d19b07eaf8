"""Report 1, the deposit (escrow) report: the prepaid balance outstanding at the quarter end from
the ledger, the required deposit at the configured ratio, the deposit operators recorded, and the
shortfall."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from compliance.models import DepositRecord
from compliance.reports import deposit
from compliance.services.deposit import deposit_record_create
from portal.errors import DomainError
from portal.models import AuditEvent
from tests import factories

from .helpers import (
    CARD_LIABILITY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    figures,
    issued,
    line,
    merchant,
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


def test_the_outstanding_balance_is_the_ledgers_card_liability_at_the_quarter_end(books) -> None:
    content = deposit.compute(this_quarter())
    got = figures(content)
    assert got["card_liability"] == owed(CARD_LIABILITY) == Decimal("470.00")
    assert got["expired_liability"] == owed(EXPIRED_LIABILITY) == Decimal("0.00")
    assert got["outstanding"] == Decimal("470.00")
    assert got["ratio"] == Decimal("0.40")
    assert got["required"] == Decimal("188.00")
    assert got["deposit"] == Decimal("0.00")
    assert got["shortfall"] == Decimal("188.00")
    assert "No deposit was recorded on or before the quarter end." in [
        str(n) for n in content.notes
    ]


def test_the_deposit_recorded_counts_escrow_and_guarantee_and_leaves_the_shortfall(
    books, settings
) -> None:
    settings.COMPLIANCE_DEPOSIT_RATIO = Decimal("0.30")
    period = this_quarter()
    deposit_record_create(
        operator=books["alice"],
        as_of=period.start,
        escrow_balance="100.00",
        guarantee_amount="20.00",
        bank="ICBC",
        note="first",
    )
    got = figures(deposit.compute(period))
    assert got["required"] == Decimal("141.00")  # 470.00 x 0.30
    assert got["escrow_balance"] == Decimal("100.00")
    assert got["guarantee"] == Decimal("20.00")
    assert got["deposit"] == Decimal("120.00")
    assert got["shortfall"] == Decimal("21.00")
    assert got["deposit_as_of"] == period.start


def test_a_correction_is_a_new_record_and_the_latest_for_the_date_counts(books) -> None:
    period = this_quarter()
    first = deposit_record_create(
        operator=books["alice"], as_of=period.start, escrow_balance="100.00"
    )
    deposit_record_create(
        operator=books["alice"], as_of=period.start, escrow_balance="300.00", note="typo fixed"
    )
    assert DepositRecord.objects.count() == 2
    got = figures(deposit.compute(period))
    assert got["deposit"] == Decimal("300.00")
    assert got["shortfall"] == Decimal("0.00")
    assert len(table(deposit.compute(period), "deposit_records")) == 2
    assert AuditEvent.objects.filter(
        action="compliance.deposit_recorded", object_id=str(first.public_id)
    ).exists()


def test_a_deposit_record_refuses_a_future_date_and_a_negative_balance(books) -> None:
    with pytest.raises(DomainError, match="in the future"):
        deposit_record_create(
            operator=books["alice"],
            as_of=datetime.date.today() + datetime.timedelta(days=5),
            escrow_balance="1.00",
        )
    with pytest.raises(DomainError, match="negative"):
        deposit_record_create(
            operator=books["alice"], as_of=datetime.date(2026, 1, 1), escrow_balance="-1.00"
        )
    assert not DepositRecord.objects.exists()


def test_a_record_dated_after_the_quarter_end_does_not_count_for_that_quarter(books) -> None:
    period = this_quarter()
    earlier = datetime.date(period.start.year - 1, 12, 31)
    deposit_record_create(operator=books["alice"], as_of=earlier, escrow_balance="50.00")
    last_quarter = deposit.compute(type(period)(datetime.date(earlier.year, 10, 1), earlier))
    assert figures(last_quarter)["deposit"] == Decimal("50.00")
    assert figures(last_quarter)["outstanding"] == Decimal("0.00")  # nothing issued before
