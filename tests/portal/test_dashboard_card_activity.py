"""Card activity on the dashboard: the value and number of the company's card redemptions by
Asia/Shanghai month, the last 12 months, as a chart with its table of numbers, for the members
who see the money (owners and finance), at no extra cost per card or transaction."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cards.models import CardTransaction
from portal import days
from portal.charts import last_months
from portal.models import Role
from tests.billing.statement_data import shanghai
from tests.cards import spend_data as spend
from tests.cards.test_cards_pages import Buyer, buyer
from tests.conftest import sign_in
from tests.portal.test_dashboard import section

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def page(who: Buyer, role: str) -> str:
    client = Client(headers={"accept-language": "en"})
    sign_in(client, who.people[role], second_factor=True)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    return response.text


def numbers(html: str) -> dict[str, tuple[str, str]]:
    """The chart's table: month -> (value, count) as shown."""
    table = html[html.index('data-testid="chart-card-activity-numbers"') :].split("</table>")[0]
    rows = {}
    for row in table.split('<th scope="row">')[1:]:
        month, rest = row.split("</th>", 1)
        value, count = (cell.split("</td>")[0] for cell in rest.split('<td class="num">')[1:3])
        rows[month] = (value, count)
    return rows


def month_start(months_back: int) -> datetime.date:
    return last_months(days.today(), months_back + 1)[0]


def month_name(months_back: int) -> str:
    return month_start(months_back).strftime("%Y-%m")


def in_month(months_back: int, day: int = 15, hour: int = 12) -> datetime.datetime:
    first = month_start(months_back)
    return shanghai(first.year, first.month, day, hour)


@pytest.fixture
def acme(settings: Any) -> Buyer:
    settings.ISSUANCE_CHUNK_SIZE = 40
    who = buyer()
    order = spend.issued(who, {"face_value": "1000", "quantity": 3})
    one, two, three = spend.cards_of(order)
    shop = spend.merchant()
    # Two months ago: two purchases on two cards, one of them partly refunded.
    lunch = spend.redeem(one, "120.50", shop, at=in_month(2))
    spend.redeem(two, "79.50", shop, at=in_month(2, day=20))
    spend.refund(lunch, "20.50", at=in_month(2, day=21))
    # This month: three purchases, and an operator's freeze (no spend).
    for amount in ("300.00", "250.00", "1.25"):
        spend.redeem(three, amount, shop, at=in_month(0, day=1, hour=8))
    spend.move(one, CardTransaction.Kind.FREEZE, "0", status="frozen", at=in_month(0, day=1))
    # Thirteen months ago: outside the chart.
    spend.redeem(two, "5.00", shop, at=in_month(13))
    return who


def test_the_owner_sees_redeemed_value_and_count_by_month(acme: Buyer) -> None:
    activity = section(page(acme, Role.OWNER), "dash-card-activity")

    assert 'role="img"' in activity
    table = numbers(activity)
    assert len(table) == 12
    assert table[month_name(2)] == ("¥200.00", "2")  # refunds are not deducted
    assert table[month_name(0)] == ("¥551.25", "3")
    assert table[month_name(1)] == ("¥0.00", "0")
    assert month_name(13) not in table


def test_a_redemption_late_on_the_last_evening_counts_in_its_shanghai_month(
    acme: Buyer,
) -> None:
    # 23:30 on the last day of last month in Shanghai is 15:30 UTC that day: last month.
    last_month, this_month = month_start(1), month_start(0)
    evening = days.day_start(this_month) - datetime.timedelta(minutes=30)
    order = spend.issued(acme, {"face_value": "100", "quantity": 1})
    spend.redeem(spend.cards_of(order)[0], "10.00", spend.merchant(), at=evening)

    table = numbers(section(page(acme, Role.FINANCE), "dash-card-activity"))

    assert table[last_month.strftime("%Y-%m")] == ("¥10.00", "1")
    assert table[this_month.strftime("%Y-%m")] == ("¥551.25", "3")


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.APPROVER, Role.VIEWER])
def test_roles_that_do_not_see_the_money_do_not_see_card_activity(acme: Buyer, role: str) -> None:
    assert 'data-testid="dash-card-activity"' not in page(acme, role)


def test_another_companys_spend_is_not_counted(acme: Buyer) -> None:
    stranger = buyer()

    activity = section(page(stranger, Role.OWNER), "dash-card-activity")

    assert 'data-testid="empty-state"' in activity
    assert "No card was spent in the last 12 months." in activity


def test_the_chart_costs_one_query_however_many_transactions(
    acme: Buyer, django_assert_max_num_queries: Any
) -> None:
    client = Client(headers={"accept-language": "en"})
    sign_in(client, acme.people[Role.OWNER], second_factor=True)
    client.get(reverse("portal:dashboard"))
    with django_assert_max_num_queries(30) as before:
        client.get(reverse("portal:dashboard"))
    order = spend.issued(acme, {"face_value": "100", "quantity": 5})
    shop = spend.merchant()
    for card in spend.cards_of(order):
        spend.redeem(card, "1.00", shop, at=in_month(3))

    with django_assert_max_num_queries(len(before.captured_queries)):
        client.get(reverse("portal:dashboard"))
