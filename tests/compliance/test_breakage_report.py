"""Report 5: expired balances by age, reactivations, and breakage recognised and reversed in the
period with the decisions that allowed it, each figure checked against the ledger."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from cards.models import Card
from cards.services.expiry import (
    breakage_propose,
    breakage_review,
    card_reactivate,
    cards_expire,
)
from compliance.reports import breakage
from tests import factories

from .report_helpers import (
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
    this_month,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def books(settings) -> dict:
    """Four bearer cards (100, 100, 100 spent to 0, 200) expired today; the 200 card
    reactivated; breakage posted on the two 100 cards (Alice proposes, Bob approves); then one of
    them comes back (its breakage reversed)."""
    settings.BREAKAGE_HOLDING_MONTHS = 0
    cards = issued(buyer("Acme"), [line(bearer_product(), "100", 3), line(bearer_product(), "200")])
    spend(cards[2], "100.00", merchant())
    # Past their date (bearer cards are valid three years; the expiry tests move the date too).
    Card.objects.filter(pk__in=[c.pk for c in cards]).update(
        expires_at=timezone.now() - datetime.timedelta(hours=1)
    )
    cards_expire()
    alice = factories.operator("alice@issuer.example")
    bob = factories.operator("bob@issuer.example")
    card_reactivate(card_id=cards[3].pk, operator=alice, reason="Holder asked")
    decision = breakage_propose(operator=alice, reason="Quarter-end review")
    breakage_review(decision_id=decision.pk, reviewer=bob, approve=True, note="Checked")
    card_reactivate(card_id=cards[0].pk, operator=bob, reason="Holder came back")
    return {"cards": cards, "decision": decision, "alice": alice, "bob": bob}


def test_the_expired_liability_by_age_agrees_with_the_ledger(books) -> None:
    content = breakage.compute(this_month())
    got = figures(content)
    assert got["expired_liability"] == owed(EXPIRED_LIABILITY) == Decimal("0.00")
    assert got["expired_balances"] == Decimal("100.00")  # card 1 (card 2 is empty)
    assert got["breakage_outstanding"] == Decimal("100.00")
    assert got["expired_owed"] == Decimal("0.00")
    assert got["difference"] == Decimal("0.00")
    bands = table(content, "expired_by_age")
    assert bands[0][1:] == [2, 1, Decimal("100.00"), Decimal("100.00"), Decimal("0.00")]
    assert bands[-1][1:] == bands[0][1:]  # the total: every card expired today


def test_expiries_reactivations_and_breakage_of_the_period(books) -> None:
    got = figures(breakage.compute(this_month()))
    assert got["expired_count"] == 4
    assert got["expired_value"] == Decimal("400.00")
    assert got["reactivated_count"] == 2
    assert got["reactivated_value"] == Decimal("300.00")
    assert got["breakage_recognised"] == Decimal("200.00")
    assert got["breakage_reversed"] == Decimal("100.00")
    assert got["breakage_net"] == Decimal("100.00")
    assert got["breakage_income_to_date"] == owed("breakage_income") == Decimal("100.00")


def test_each_decision_shows_who_decided_when_and_its_journal_entry(books) -> None:
    content = breakage.compute(this_month())
    decision = books["decision"]
    decision.refresh_from_db()
    (row,) = table(content, "breakage_decisions")
    assert row[0] == str(decision.public_id)
    assert str(row[1]) == "Posted"
    assert row[2:4] == [2, Decimal("200.00")]
    assert row[4] == "alice@issuer.example"
    assert row[6] == "Quarter-end review"
    assert row[7] == "bob@issuer.example"
    assert row[9] == "Checked"
    assert row[10] == str(decision.entry.public_id)
    assert row[11] == Decimal("100.00")  # reversed as the card came back
    serials = [r[1] for r in table(content, "reactivations")]
    assert serials == [books["cards"][3].serial_display, books["cards"][0].serial_display]


def test_a_period_before_anything_happened_is_empty(books) -> None:
    earlier = this_month().start - datetime.timedelta(days=40)
    from compliance.periods import month

    got = figures(breakage.compute(month(earlier.year, earlier.month)))
    assert got["expired_count"] == 0
    assert got["expired_liability"] == Decimal("0.00")
    assert got["breakage_income_to_date"] == Decimal("0.00")
