from decimal import Decimal

import pytest

from cards.models import OrderStatus
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_approve, order_submit
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def test_credit_order_over_threshold_is_approved_and_invoiced():
    company = factories.company(approval_threshold="1000.00")
    people = factories.team(company)
    factories.credit_line(company)
    product = factories.product()
    order = order_create(
        company=company,
        actor=people["purchaser"],
        lines=[LineInput(product=str(product.public_id), face_value="100", quantity=30)],
    )
    order = order_submit(order=order, actor=people["purchaser"])
    assert order.status == OrderStatus.PENDING_APPROVAL
    order = order_approve(order=order, actor=people["approver"])
    assert order.status == OrderStatus.FUNDED
    assert order.invoice is not None
    assert order.invoice.total == Decimal("3000.00")
