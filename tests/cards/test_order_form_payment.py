"""The new-order form offers credit only to a company that has a usable credit line (issue 12,
defect 6): without one it used to preselect "credit terms", and the order was refused at submit."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from billing.models import CreditLine
from cards.models import PaymentMethod
from portal.models import Company, Role
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _radio(page: str, value: str) -> str:
    found = re.search(rf'<input[^>]*name="payment_method"[^>]*value="{value}"[^>]*>', page)
    assert found is not None, value
    return found.group(0)


def _form(company: Company) -> str:
    client = Client()
    sign_in(client, factories.member(company, Role.PURCHASER), second_factor=False)
    response = client.get("/orders/new/")
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_credit_line_bank_transfer_is_preselected_and_credit_disabled() -> None:
    page = _form(factories.company())

    assert "checked" in _radio(page, PaymentMethod.BANK_TRANSFER)
    credit = _radio(page, PaymentMethod.CREDIT)
    assert "checked" not in credit
    assert "disabled" in credit
    assert "has no credit line" in page


def test_a_suspended_credit_line_is_not_offered_either() -> None:
    company = factories.company()
    line = factories.credit_line(company, "50000.00")
    CreditLine.objects.filter(pk=line.pk).update(status=CreditLine.Status.SUSPENDED)

    page = _form(company)

    assert "checked" in _radio(page, PaymentMethod.BANK_TRANSFER)
    assert "disabled" in _radio(page, PaymentMethod.CREDIT)
    assert "suspended" in page


def test_with_a_credit_line_credit_is_preselected() -> None:
    company = factories.company()
    factories.credit_line(company, "50000.00")

    page = _form(company)

    credit = _radio(page, PaymentMethod.CREDIT)
    assert "checked" in credit
    assert "disabled" not in credit
    assert "checked" not in _radio(page, PaymentMethod.BANK_TRANSFER)
