"""A month's figures by cost center, employee and order, from real orders, deliveries and card
spend: bought, delivered, spent, matched, unclaimed, claimed, never spent; the page, its exports
and the API; set-based (the queries do not grow with the cards)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cards.models import Card
from cards.services.code_export import code_export_start
from expenses.models import LineState, Resolution
from expenses.services.reports import FigureRow, period_figures
from portal import days
from portal.models import ApiKey, Role
from tests.api.helpers import Api, key_for
from tests.expenses.voucher_helpers import Buyer, Shop, buyer, cards_for, claim

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@dataclass
class Scene:
    who: Buyer
    month: str
    sales: list[Card]
    ops: list[Card]


@pytest.fixture
def scene() -> Scene:
    """Two orders this month: two cards of 500 for E1 in CC1 (codes downloaded), three of 100
    for E2 in CC2. Spend: 120 (claimed), 30 (unclaimed) on a CC1 card; 50 on a CC2 card,
    claimed but the claim rejected. A 70 claim of E1 found no spend."""
    who = buyer()
    month = days.today().replace(day=1)
    sales = cards_for(who, face="500", count=2, employee_id="E1", cost_center="CC1")
    ops = cards_for(who, face="100", count=3, employee_id="E2", cost_center="CC2")
    code_export_start(order=sales[0].batch.order, user=who.people[Role.FINANCE])
    shop = Shop()
    lunch = shop.spend(sales[0], "120.00")
    shop.spend(sales[0], "30.00")
    taxi = shop.spend(ops[0], "50.00")
    claim(
        who.company,
        amount="120.00",
        cost_center="CC1",
        employee_id="E1",
        transaction=lunch,
        month=month,
    )
    claim(
        who.company,
        amount="50.00",
        cost_center="CC2",
        employee_id="E2",
        transaction=taxi,
        resolution=Resolution.REJECTED,
        month=month,
    )
    claim(
        who.company,
        amount="70.00",
        cost_center="CC1",
        employee_id="E1",
        state=LineState.NO_SPEND,
        month=month,
    )
    return Scene(who=who, month=month.strftime("%Y-%m"), sales=sales, ops=ops)


def figures(scene: Scene, by: str) -> dict[str, FigureRow]:
    result = period_figures(
        company=scene.who.company, month=days.today().replace(day=1), dimension=by
    )
    return {row.key: row for row in result.rows} | {"TOTAL": result.total}


def test_by_cost_center_each_figure_comes_from_where_it_is_recorded(scene: Scene) -> None:
    rows = figures(scene, "cost_center")

    cc1, cc2, total = rows["CC1"], rows["CC2"], rows["TOTAL"]
    assert (cc1.bought_cards, cc1.bought_value) == (2, Decimal("1000.00"))
    assert (cc2.bought_cards, cc2.bought_value) == (3, Decimal("300.00"))
    assert (cc1.delivered_cards, cc2.delivered_cards) == (2, 0)
    assert (cc1.spent, cc1.matched, cc1.unclaimed) == (
        Decimal("150.00"),
        Decimal("120.00"),
        Decimal("30.00"),
    )
    # The rejected claim does not cover its spend.
    assert (cc2.spent, cc2.matched, cc2.unclaimed) == (
        Decimal("50.00"),
        Decimal("0.00"),
        Decimal("50.00"),
    )
    assert (cc1.claimed_lines, cc1.claimed_amount) == (2, Decimal("190.00"))
    assert (cc2.claimed_lines, cc2.claimed_amount) == (1, Decimal("50.00"))
    assert (cc1.never_spent_cards, cc1.never_spent_value) == (1, Decimal("500.00"))
    assert (cc2.never_spent_cards, cc2.never_spent_value) == (2, Decimal("200.00"))
    assert (total.bought_cards, total.spent, total.unclaimed, total.never_spent_cards) == (
        5,
        Decimal("200.00"),
        Decimal("80.00"),
        3,
    )


def test_by_employee_and_by_order_the_same_totals_split_otherwise(scene: Scene) -> None:
    by_employee = figures(scene, "employee")
    by_order = figures(scene, "order")

    assert by_employee["E1"].unclaimed == Decimal("30.00")
    assert by_employee["E2"].claimed_lines == 1
    sales_order = scene.sales[0].batch.order.number
    ops_order = scene.ops[0].batch.order.number
    assert by_order[sales_order].spent == Decimal("150.00")
    assert by_order[ops_order].never_spent_cards == 2
    # The claim with no spend has no card, so no order.
    assert by_order[""].claimed_amount == Decimal("70.00")
    for rows in (by_employee, by_order):
        assert rows["TOTAL"].spent == Decimal("200.00")
        assert rows["TOTAL"].claimed_amount == Decimal("240.00")


def test_refunds_net_the_spend_voided_redemptions_do_not_count_and_over_claims_are_capped() -> None:
    who = buyer()
    month = days.today().replace(day=1)
    first, second = cards_for(who, face="500", count=2, cost_center="CC1")
    shop = Shop()
    dinner = shop.spend(first, "200.00")
    shop.refund(dinner, "50.00")
    mistake = shop.spend(first, "70.00")
    shop.void(mistake)
    # Claimed more than was spent net (150): the surplus does not hide spend elsewhere.
    claim(who.company, amount="180.00", cost_center="CC1", transaction=dinner, month=month)
    shop.spend(second, "40.00")

    row = period_figures(company=who.company, month=month).rows[0]

    assert (row.spent, row.matched, row.unclaimed) == (
        Decimal("190.00"),
        Decimal("150.00"),
        Decimal("40.00"),
    )
    assert row.never_spent_cards == 0  # both cards were spent


def test_a_card_whose_only_redemption_was_voided_was_never_spent() -> None:
    who = buyer()
    (card,) = cards_for(who, face="100", count=1)
    shop = Shop()
    shop.void(shop.spend(card, "10.00"))

    total = period_figures(company=who.company, month=days.today().replace(day=1)).total

    assert (total.spent, total.never_spent_cards) == (Decimal("0.00"), 1)


def test_another_month_shows_none_of_it(scene: Scene) -> None:
    earlier = days.today().replace(day=1).replace(year=2020)

    result = period_figures(company=scene.who.company, month=earlier)

    assert result.rows == []


def test_the_figures_take_the_same_queries_whatever_the_number_of_cards() -> None:
    who = buyer()
    month = days.today().replace(day=1)
    cards_for(who, face="100", count=2, cost_center="A")

    with CaptureQueriesContext(connection) as few:
        period_figures(company=who.company, month=month, dimension="employee")
    for n in range(3):
        cards_for(who, face="100", count=20, cost_center=f"B{n}", employee_id=f"E{n}")
    with CaptureQueriesContext(connection) as many:
        result = period_figures(company=who.company, month=month, dimension="employee")

    assert len(many) == len(few)
    assert result.total.never_spent_cards == 62


def test_the_page_shows_each_tab_and_exports_csv_and_xlsx(scene: Scene) -> None:
    client = scene.who.client(Role.VIEWER)
    url = f"/expenses/periods/{scene.month}/reports/"

    page = client.get(url, {"by": "order"})
    csv_file = client.get(url, {"by": "cost_center", "format": "csv"})
    xlsx_file = client.get(url, {"by": "employee", "format": "xlsx"})

    assert page.status_code == HTTPStatus.OK
    body = page.content.decode()
    assert scene.sales[0].batch.order.number in body
    assert 'data-testid="tab-order" aria-current="page"' not in body  # attribute order
    assert 'aria-current="page" data-testid="tab-order"' in body
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Cost center"
    by_key = {row[0].strip(): row for row in rows[1:]}
    assert by_key["CC1"][rows[0].index("Unclaimed spend")] == "30.00"
    assert by_key["Total"][rows[0].index("Cards bought")] == "5"
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_file.content)).worksheets[0]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "Employee ID"
    assert [row[0] for row in values[1:]] == ["E1", "E2", "Total"]


def test_employee_ids_made_of_digits_stay_text_in_the_export() -> None:
    who = buyer()
    cards_for(who, face="100", count=1, employee_id="00123")
    month = days.today().strftime("%Y-%m")

    response = who.client(Role.FINANCE).get(
        f"/expenses/periods/{month}/reports/", {"by": "employee", "format": "csv"}
    )

    assert '"00123\t"' in response.content.decode("utf-8-sig")


def test_another_company_sees_only_its_own_figures(scene: Scene) -> None:
    other = buyer()

    body = other.client(Role.FINANCE).get(f"/expenses/periods/{scene.month}/reports/").content

    assert b"CC1" not in body
    assert b'data-testid="empty-state"' in body


def test_the_api_answers_the_figures_of_the_key_company(scene: Scene) -> None:
    who = scene.who
    api = Api(key_for(who.company, who.people[Role.VIEWER], [ApiKey.Scope.EXPENSES_READ]))

    response = api.get(f"/api/v1/expense-periods/{scene.month}/figures", by="cost_center")
    wrong = api.get(f"/api/v1/expense-periods/{scene.month}/figures", by="merchant")
    no_scope = Api(key_for(who.company, who.people[Role.VIEWER], [ApiKey.Scope.ORDERS_READ]))

    assert response.status_code == HTTPStatus.OK
    data = response.json()
    rows = {row["key"]: row for row in data["rows"]}
    assert rows["CC1"]["unclaimed"] == "30.00"
    assert rows["CC2"]["bought_cards"] == 3
    assert data["total"]["spent"] == "200.00"
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert no_scope.get(f"/api/v1/expense-periods/{scene.month}/figures").status_code == 403
