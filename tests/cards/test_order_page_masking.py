"""The order page masks a recipient's email and mobile everywhere (issue 12, defect 5): the
Lines table used to show them in full beside the delivery panel's masked copy."""

from __future__ import annotations

import pytest
from django.test import Client

from cards.models import DeliveryMethod, Order
from cards.services.orders import LineInput, order_create
from cards.services.recipients import mask_email
from portal import sms
from portal.models import Role
from tests import factories
from tests.cards.test_recipients import (  # noqa: F401 - fixtures
    Shop,
    delivered,
    isolated,
    shop,
)
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

FULL = ["xiaoming@example.com", "lina@example.com", "13800138000", "13900139000"]


def _page(order: Order, user: object) -> str:
    client = Client()
    sign_in(client, user, second_factor=True)  # type: ignore[arg-type]
    response = client.get(f"/orders/{order.number}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_draft_shows_recipients_masked_in_its_lines() -> None:
    company = factories.company()
    purchaser = factories.member(company, Role.PURCHASER)
    card = factories.product()
    order = order_create(
        company=company,
        actor=purchaser,
        lines=[
            LineInput(
                product=str(card.public_id),
                face_value="100",
                quantity=1,
                recipient_name="Wang Xiaoming",
                recipient_email="xiaoming@example.com",
                recipient_mobile="13800138000",
            )
        ],
        delivery_method=DeliveryMethod.RECIPIENTS,
    )

    page = _page(order, purchaser)

    assert "Wang Xiaoming" in page
    assert "xiaoming@example.com" not in page
    assert "13800138000" not in page
    assert mask_email("xiaoming@example.com") in page
    assert sms.mask_mobile("13800138000") in page


@pytest.mark.parametrize("role", [Role.OWNER, Role.PURCHASER, Role.VIEWER])
def test_a_delivered_order_never_shows_a_full_email_or_mobile(
    shop: Shop,  # noqa: F811
    delivered: Order,  # noqa: F811
    role: str,
) -> None:
    page = _page(delivered, shop.people[role])

    assert 'data-testid="order-lines"' in page
    assert 'data-testid="delivery-table"' in page
    for value in FULL:
        assert value not in page, value
