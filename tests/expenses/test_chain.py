"""The chain of one claim line on one page (and in the API): invoice → order → order line →
card → its transactions → the claim lines matched; never a code; another company's line 404."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from expenses.models import LineState
from expenses.services.reports import line_chain
from portal.models import ApiKey, Role
from tests.api.helpers import Api, key_for
from tests.cards.test_cards_pages import assert_no_secret
from tests.expenses.voucher_helpers import Buyer, Shop, buyer, cards_for, claim

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def acme() -> Buyer:
    return buyer()


def test_the_chain_runs_from_the_invoice_to_every_claim_of_the_spend(acme: Buyer) -> None:
    card = cards_for(acme, face="500", employee_id="E1", cost_center="CC1")[0]
    shop = Shop()
    dinner = shop.spend(card, "300.00", reference="ORD-881")
    later = shop.spend(card, "20.00")
    # A split claim: two lines share the dinner.
    mine = claim(acme.company, amount="200.00", transaction=dinner, report_number="R-7")
    theirs = claim(acme.company, amount="100.00", transaction=dinner, report_number="R-8")

    chain = line_chain(line=mine)

    assert len(chain) == 1
    step = chain[0]
    order = card.batch.order
    order.refresh_from_db()
    assert step.order == order
    assert order.invoice is not None
    assert step.invoice_number == order.invoice.number
    assert (step.order_line.employee_id, step.order_line.cost_center) == ("E1", "CC1")
    assert step.card == card
    assert [tx.transaction for tx in step.transactions] == [dinner, later]
    assert step.transactions[0].lines == [mine, theirs]
    assert step.transactions[0].matched_here == mine.amount
    assert step.transactions[1].lines == []


def test_the_page_shows_each_step_and_never_the_code(acme: Buyer) -> None:
    card = cards_for(acme, face="500")[0]
    spend = Shop().spend(card, "88.00", reference="ORD-42")
    line = claim(acme.company, amount="88.00", transaction=spend)

    response = acme.client(Role.VIEWER).get(f"/expenses/lines/{line.public_id}/chain/")

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    order = card.batch.order
    order.refresh_from_db()
    assert order.invoice is not None
    for shown in (order.invoice.number, order.number, card.serial_display, "ORD-42"):
        assert shown in body
    assert 'data-testid="chain-matched"' in body
    assert_no_secret(body, [card])


def test_a_line_matched_to_nothing_says_so(acme: Buyer) -> None:
    line = claim(acme.company, amount="10.00", state=LineState.NO_SPEND)

    body = acme.client(Role.FINANCE).get(f"/expenses/lines/{line.public_id}/chain/").content

    assert b'data-testid="empty-state"' in body


def test_another_company_gets_404_for_the_page_and_the_api(acme: Buyer) -> None:
    line = claim(acme.company, amount="10.00")
    other = buyer()
    api = Api(key_for(other.company, other.people[Role.FINANCE], [ApiKey.Scope.EXPENSES_READ]))

    page = other.client(Role.FINANCE).get(f"/expenses/lines/{line.public_id}/chain/")
    answer = api.get(f"/api/v1/expense-lines/{line.public_id}/chain")

    assert page.status_code == HTTPStatus.NOT_FOUND
    assert answer.status_code == HTTPStatus.NOT_FOUND


def test_the_api_answers_the_chain_without_codes(acme: Buyer) -> None:
    card = cards_for(acme, face="500", cost_center="CC9")[0]
    spend = Shop().spend(card, "12.50")
    line = claim(acme.company, amount="12.50", transaction=spend)
    api = Api(key_for(acme.company, acme.people[Role.VIEWER], [ApiKey.Scope.EXPENSES_READ]))

    response = api.get(f"/api/v1/expense-lines/{line.public_id}/chain")

    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert data["line"]["id"] == str(line.public_id)
    (item,) = data["cards"]
    assert item["card"]["serial"] == card.serial_display
    assert item["order_line"]["cost_center"] == "CC9"
    assert item["invoice"]["number"]
    assert item["transactions"][0]["amount"] == "-12.50"
    assert item["transactions"][0]["claim_lines"][0]["id"] == str(line.public_id)
    assert_no_secret(response.content.decode(), [card])
