"""Live and test never meet: a live key never sees the sandbox's orders or cards, a test key
never sees the live company's (404, like another company's), and the live company's dashboard,
statements and operators' lists are the same whatever happens in its sandbox."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from billing.services.statements import statements_monthly
from cards.models import Card, Order
from compliance.scope import live_cards, live_companies, live_rows
from console.selectors import cards_by_month
from portal.models import Company, Role, User
from tests import factories
from tests.conftest import sign_in
from tests.testmode.helpers import integrator, issue, ordered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def both():
    """A company with one issued live order and one issued test order."""
    acme = integrator()
    product = factories.product()
    live = issue(ordered(acme.live(), product, ref="live", quantity=2))
    test = issue(ordered(acme.test(), product, ref="test", quantity=3))
    return acme, live, test


def test_each_kind_of_key_sees_only_its_own_orders(both):
    acme, live, test = both

    assert acme.live("viewer").get(f"/api/v1/orders/{test.number}").status_code == 404
    assert acme.test("viewer").get(f"/api/v1/orders/{live.number}").status_code == 404
    assert acme.live("viewer").get(f"/api/v1/orders/{live.number}").status_code == 200
    assert acme.test("viewer").get(f"/api/v1/orders/{test.number}").status_code == 200
    live_list = [o["number"] for o in acme.live("viewer").get("/api/v1/orders").json()["results"]]
    test_list = [o["number"] for o in acme.test("viewer").get("/api/v1/orders").json()["results"]]
    assert live_list == [live.number]
    assert test_list == [test.number]


def test_each_kind_of_key_sees_only_its_own_cards(both):
    acme, live, test = both

    live_cards_seen = acme.live("viewer").get("/api/v1/cards").json()["results"]
    test_cards_seen = acme.test("viewer").get("/api/v1/cards").json()["results"]

    assert {c["order"] for c in live_cards_seen} == {live.number}
    assert {c["order"] for c in test_cards_seen} == {test.number}
    assert len(test_cards_seen) == 3
    assert acme.live("viewer").get(f"/api/v1/orders/{test.number}/cards").status_code == 404


def test_the_portal_never_shows_the_sandbox(both):
    acme, _live, test = both
    client = Client()
    sign_in(client, acme.people[Role.OWNER], second_factor=True)

    orders = client.get(reverse("cards:order_list"))
    detail = client.get(reverse("cards:order_detail", args=[test.number]))

    assert orders.status_code == 200
    assert test.number not in orders.text
    assert detail.status_code == 404
    # The company switcher offers the real company only.
    assert "[TEST]" not in client.get(reverse("portal:dashboard")).text


def test_the_live_dashboard_is_the_same_whatever_happens_in_the_sandbox():
    acme = integrator()
    product = factories.product()
    issue(ordered(acme.live(), product, ref="live", quantity=2))
    client = Client()
    sign_in(client, acme.people[Role.OWNER], second_factor=True)

    def figures() -> tuple:
        board = client.get(reverse("portal:dashboard")).context["board"]
        return (
            board.counts,
            [o.number for o in board.recent_orders],
            board.spend_chart.rows if board.spend_chart else None,
            board.cards_chart.rows if board.cards_chart else None,
            board.card_activity.rows if board.card_activity else None,
            board.overdue_total,
        )

    before = figures()
    issue(ordered(acme.test(), product, ref="test", quantity=4))
    ordered(acme.test(), product, ref="test-2", quantity=1)

    assert figures() == before


def test_monthly_statements_and_report_selectors_leave_the_sandbox_out(both):
    acme, live, test = both
    sandbox = acme.company.sandbox

    with mock.patch("billing.tasks.statements.statement_build.delay") as build:
        statements_monthly(month_start=datetime.date.today().replace(day=1))
    queued = {call.kwargs["company_id"] for call in build.call_args_list}

    assert acme.company.pk in queued
    assert sandbox.pk not in queued
    assert list(live_companies()) == [acme.company]
    assert set(live_cards().values_list("batch__order", flat=True)) == {live.pk}
    assert Card.objects.filter(batch__order=test).count() == 3
    assert list(live_rows(Order.objects.all())) == [live]
    assert Company.objects.sandboxes().get() == sandbox


def test_operators_can_list_real_orders_and_cards_only(both):
    _acme, live, test = both
    client = Client()
    ops = User.objects.create_user("ops@issuer.example", "x", is_staff=True, is_superuser=True)
    sign_in(client, ops, second_factor=True)

    orders = client.get(
        reverse("admin:cards_order_changelist"), {"company__sandbox_of__isempty": "1"}
    )
    everything = client.get(reverse("admin:cards_order_changelist"))
    test_cards = client.get(reverse("admin:cards_card_changelist"), {"is_test__exact": "1"})

    assert orders.status_code == 200
    assert live.number in orders.text
    assert test.number not in orders.text
    assert test.number in everything.text
    assert test_cards.status_code == 200
    shown = {c.serial_display for c in Card.objects.filter(batch__order=test)}
    assert all(serial in test_cards.text for serial in shown)
    assert not any(
        c.serial_display in test_cards.text for c in Card.objects.filter(batch__order=live)
    )


def test_the_operators_console_counts_live_cards_only(both):
    months = cards_by_month(datetime.date.today().replace(day=1))

    assert sum(entry["issued"] for entry in months.values()) == 2  # the live order's cards
