"""Past due plus grace, one rule read three ways: the credit position (what an order on credit
is refused for), the daily credit hold, and the credit page's open invoices (its "pay by" day
and the mark of the invoice that holds credit orders). On the last day of grace all three say
the invoice can still be paid; the day after, all three say it blocks credit."""

from __future__ import annotations

import pytest

from billing.selectors import credit_open_invoices
from billing.services.credit import credit_position
from billing.services.receivables import credit_hold_refresh
from tests import factories
from tests.billing.test_receivables import day, invoice_due

pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company():
    company = factories.company()
    factories.credit_line(company, "100000.00", net_days=30, grace_days=5)
    return company


@pytest.mark.django_db
@pytest.mark.parametrize(("due_days_ago", "blocks"), [(5, False), (6, True)])
def test_the_credit_position_the_hold_and_the_credit_page_agree_on_the_grace_boundary(
    company, due_days_ago: int, blocks: bool
) -> None:
    # Given an invoice due some days ago, and a credit line with 5 days of grace
    invoice = invoice_due(company, day(-due_days_ago))
    # Then the credit position names it as past due plus grace only once the grace is over
    position = credit_position(company)
    assert position is not None
    assert position.past_due_invoice == (invoice.number if blocks else None)
    # And the hold is placed on the same day, not earlier
    assert credit_hold_refresh(company=company) == ("placed" if blocks else None)
    # And the credit page shows the same: the last day to pay is due + 5, and the mark
    [shown] = credit_open_invoices(invoice.company.invoices.all(), position)
    assert shown.pay_by == day(-due_days_ago + 5)
    assert shown.blocks_credit is blocks
