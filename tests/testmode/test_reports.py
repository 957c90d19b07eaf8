"""Compliance reports count live data only: a sandbox's registered test purchase is in no
register, its test cards are no sale, and its orders are no structuring candidates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cards.register import register_orders
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_submit
from compliance.content import Period
from compliance.reports import business, register
from compliance.reports.structuring import _candidates
from portal import days
from portal.services.sandbox import company_sandbox_get
from tests import factories
from tests.testmode.helpers import integrator, issue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _figures(content) -> dict:
    return {figure.key: figure.value for figure in content.figures}


def test_a_sandbox_purchase_is_in_no_register_and_no_sale():
    acme = integrator(approval_threshold="1000000.00")
    product = factories.product()
    lines = [LineInput(product=str(product.public_id), face_value="1000", quantity=12)]
    period = Period(days.today(), days.today())
    purchaser = acme.people["purchaser"]
    live = issue(
        order_submit(
            order=order_create(
                company=acme.company,
                actor=purchaser,
                lines=lines,
                registration=factories.registration(),
            ),
            actor=purchaser,
        )
    )
    before = (_figures(register.compute(period)), _figures(business.compute(period)))

    sandbox = company_sandbox_get(company=acme.company)
    test = issue(
        order_submit(
            order=order_create(
                company=sandbox,
                actor=purchaser,
                lines=lines,
                registration=factories.registration(),
            ),
            actor=purchaser,
        )
    )

    assert test.registration_id is not None
    assert [o.number for o in register_orders()] == [live.number]
    assert (_figures(register.compute(period)), _figures(business.compute(period))) == before
    assert business.cards_sold(period).count() == 12


def test_sandbox_orders_are_no_structuring_candidates():
    acme = integrator(approval_threshold="1000000.00")
    product = factories.product()
    lines = [LineInput(product=str(product.public_id), face_value="1000", quantity=9)]
    purchaser = acme.people["purchaser"]
    sandbox = company_sandbox_get(company=acme.company)
    numbers = {
        company: order_submit(
            order=order_create(company=company, actor=purchaser, lines=lines), actor=purchaser
        ).number
        for company in (acme.company, sandbox)
    }
    period = Period(days.today(), days.today())

    candidates = {c.number for c in _candidates(period, Decimal("5000"), bearer_only=False)}

    assert candidates == {numbers[acme.company]}
