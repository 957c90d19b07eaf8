"""Split purchases and structuring (issue 17, report 4): the periodic view over all companies
finds the orders kept just under the 10,000 CNY registration threshold, and not the others."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cards.models import Order, OrderStatus
from compliance.content import Period
from compliance.kinds import REPORT_KINDS
from portal import days
from tests.cards.expiry.helpers import bearer_product, registered_product

from .helpers import buyer, line, ordered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def report():
    today = days.today()
    content = REPORT_KINDS["structuring"].compute(Period(start=today, end=today))
    return (
        {figure.key: figure.value for figure in content.figures},
        {table.key: table for table in content.tables},
    )


@pytest.fixture
def orders() -> dict[str, list[Order]]:
    card = bearer_product()
    splitter, pair, ordinary, below, registered = (
        buyer("拆单企业"),
        buyer("两单企业"),
        buyer("普通企业"),
        buyer("低额企业"),
        buyer("实名企业"),
    )
    return {
        # Three orders of 9,500 on one day: the split the registration rule is about.
        "splitter": [ordered(splitter, [line(card, "500", 19)]) for _ in range(3)],
        # Two of 9,100: not several in a day, but each a bearer purchase just under.
        "pair": [ordered(pair, [line(card, "100", 91)]) for _ in range(2)],
        # Ordinary orders: three of 5,000, one of 8,900, one registered purchase of 9,000.
        "ordinary": [ordered(ordinary, [line(card, "500", 10)]) for _ in range(3)],
        "below": [ordered(below, [line(card, "100", 89)])],
        "registered": [
            ordered(registered, [line(registered_product(), "1000", 9)], registered=True)
        ],
    }


def test_split_purchases_and_bearer_orders_just_under_the_threshold_are_found(orders) -> None:
    figures, tables = report()

    (split,) = tables["split_purchases"].rows
    day, company, code, count, combined, numbers, flagged = split
    assert company == "拆单企业"
    assert code == orders["splitter"][0].company.credit_code
    assert count == 3
    assert combined == Decimal("28500.00")
    assert set(numbers.split(", ")) == {order.number for order in orders["splitter"]}
    # The order rules flagged the third one when it was submitted; it waits for review.
    assert flagged == 1
    assert orders["splitter"][2].status == OrderStatus.PENDING_REVIEW
    assert day == days.today()

    bearer = {row[3] for row in tables["bearer_orders"].rows}
    assert bearer == {o.number for o in orders["splitter"] + orders["pair"]}
    by_company = {row[0]: row for row in tables["bearer_by_company"].rows}
    assert set(by_company) == {"拆单企业", "两单企业"}
    assert by_company["两单企业"][2:] == (2, 1, Decimal("18200.00"))

    assert figures["split_company_days"] == 1
    assert figures["split_companies"] == 1
    assert figures["split_orders"] == 3
    assert figures["bearer_just_under_orders"] == 5
    assert figures["bearer_just_under_companies"] == 2
    everything = repr(tables)
    for key in ("ordinary", "below", "registered"):
        for order in orders[key]:
            assert order.number not in everything


def test_the_band_floor_is_configurable(orders, settings) -> None:
    settings.COMPLIANCE_STRUCTURING_BAND_FLOOR = Decimal("9600.00")
    figures, tables = report()
    assert tables["split_purchases"].rows == []
    assert figures["split_company_days"] == 0

    settings.COMPLIANCE_STRUCTURING_BAND_FLOOR = Decimal("5000.00")
    figures, tables = report()
    companies = {row[1] for row in tables["split_purchases"].rows}
    assert companies == {"拆单企业", "普通企业"}
    # The order rules' own count of "several" applies.
    settings.ORDER_STRUCTURING_COUNT = 2
    figures, tables = report()
    companies = {row[1] for row in tables["split_purchases"].rows}
    assert companies == {"拆单企业", "普通企业", "两单企业"}


def test_the_same_period_gives_the_same_figures(orders) -> None:
    assert report() == report()
