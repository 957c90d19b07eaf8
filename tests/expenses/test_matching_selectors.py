"""What reports and queues ask besides each line's answer: spend nobody claimed in a period, and
cards never spent, by order and cost center."""

# The selectors' rows carry annotations (net, claimed, unclaimed, employee_id).
# mypy: disable-error-code="union-attr,attr-defined"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from cards.models import Card
from expenses.models import ReconciliationPeriod
from expenses.selectors import cards_never_spent, unclaimed_spend
from portal import days
from tests.expenses.matching_helpers import match, period, redeem, refund, report, void, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def test_unclaimed_spend_is_the_periods_net_redemptions_no_claim_covers() -> None:
    w = world({"E001": 2, "E002": 1})
    claimed = redeem(w, w.card("E001", 0), "100.00", ref="A")
    partly = redeem(w, w.card("E001", 1), "80.00", ref="B")
    refunded = redeem(w, w.card("E002"), "50.00", ref="C")
    refund(w, refunded, "20.00")
    voided = redeem(w, w.card("E002"), "10.00", ref="D")
    void(w, voided)
    match(
        report(
            w,
            {"amount": "100.00", "merchant_reference": "A"},
            {"amount": "30.00", "merchant_reference": "B"},
        )
    )

    found = unclaimed_spend(company=w.company, period=period(w.company))

    assert (found.count, found.amount) == (2, Decimal("80.00"))  # 50 of B, 30 of C
    rows = {tx.pk: tx for tx in found.transactions}
    assert set(rows) == {partly.pk, refunded.pk}
    assert (rows[partly.pk].net, rows[partly.pk].claimed, rows[partly.pk].unclaimed) == (
        Decimal("80.00"),
        Decimal("30.00"),
        Decimal("50.00"),
    )
    assert (rows[refunded.pk].unclaimed, rows[refunded.pk].employee_id) == (
        Decimal("30.00"),
        "E002",
    )
    assert claimed.pk not in rows


def test_unclaimed_spend_counts_only_the_periods_month_and_the_company() -> None:
    w = world({"E001": 1})
    other = world({"E001": 1}, key=w.key)
    redeem(other, other.card("E001"), "9.00")
    tx = redeem(w, w.card("E001"), "12.00")
    next_month = (tx.created_at.date().replace(day=1) + datetime.timedelta(days=40)).replace(day=1)
    later = ReconciliationPeriod.objects.create(company=w.company, month=next_month)

    this = unclaimed_spend(company=w.company, period=period(w.company))
    assert (this.count, this.amount) == (1, Decimal("12.00"))
    assert unclaimed_spend(company=w.company, period=later).count == 0


def test_cards_never_spent_are_grouped_by_order_and_cost_center() -> None:
    w = world(
        {"E001": 2, "E002": 3, "E003": 1},
        face="200",
        cost_centers={"E001": "CC-A", "E002": "CC-B", "E003": "CC-B"},
    )
    redeem(w, w.card("E001", 0), "1.00")
    redeem(w, w.card("E002", 0), "1.00")
    voided = redeem(w, w.card("E002", 1), "1.00")
    void(w, voided)  # a voided redemption does not make a card spent
    other = world({"E001": 4}, key=w.key)

    never = cards_never_spent(company=w.company)

    assert (never.cards, never.face_value) == (4, Decimal("800.00"))
    assert [(g.order_number, g.cost_center, g.cards, g.face_value) for g in never.groups] == [
        (w.order.number, "CC-A", 1, Decimal("200.00")),
        (w.order.number, "CC-B", 3, Decimal("600.00")),
    ]
    assert never.groups[0].order_id == w.order.public_id
    assert cards_never_spent(company=other.company).cards == 4


def test_cards_never_spent_in_a_period_count_spend_before_its_end_only() -> None:
    w = world({"E001": 1})
    holder = w.card("E001")
    tx = redeem(w, holder, "1.00")
    this = period(w.company)
    earlier_month = (tx.created_at.date().replace(day=1) - datetime.timedelta(days=1)).replace(
        day=1
    )
    earlier = ReconciliationPeriod.objects.create(company=w.company, month=earlier_month)
    assert cards_never_spent(company=w.company, period=earlier).cards == 0  # not issued yet
    # Issued in the earlier month, spent only in this one.
    Card.objects.filter(pk=holder.card.pk).update(
        created_at=days.day_start(earlier_month) + datetime.timedelta(hours=1)
    )

    assert cards_never_spent(company=w.company, period=earlier).cards == 1
    assert cards_never_spent(company=w.company, period=this).cards == 0
