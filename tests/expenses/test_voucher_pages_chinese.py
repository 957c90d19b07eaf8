"""The voucher, mapping, figures and chain pages render in Chinese as in English."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from portal.models import Role
from tests.cards.test_cards_pages import NEEDS_2FA
from tests.conftest import sign_in
from tests.expenses.voucher_helpers import Shop, buyer, cards_for, claim, mapping

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_each_page_renders_in_both_languages(language: str) -> None:
    who = buyer()
    mapping(who.company, who.people[Role.FINANCE])
    card = cards_for(who, face="500", cost_center="CC1")[0]
    line = claim(
        who.company, amount="10.00", cost_center="CC1", transaction=Shop().spend(card, "10.00")
    )
    client = Client(headers={"accept-language": language})
    sign_in(client, who.people[Role.FINANCE], second_factor=Role.FINANCE in NEEDS_2FA)
    month = line.period.month.strftime("%Y-%m")
    cost_center = "成本中心" if language == "zh-hans" else "Cost center"

    pages = [
        "/expenses/mapping/",
        f"/expenses/periods/{month}/vouchers/",
        f"/expenses/periods/{line.expense_date:%Y-%m}/reports/",
        f"/expenses/lines/{line.public_id}/chain/",
    ]

    for page in pages:
        response = client.get(page)
        assert response.status_code == HTTPStatus.OK, page
        body = response.content.decode()
        assert f'<html lang="{language}">' in body, page
        assert cost_center in body, page
