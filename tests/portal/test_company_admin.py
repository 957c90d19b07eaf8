"""Operators edit and add companies in the admin through the company services: each save leaves
one audit row naming the operator and the fields that changed."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from portal.models import AuditAction, AuditEvent, Company, Membership, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

COMPANIES = "/ops/portal/company/"


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def admin_client(client: Client, ops: User) -> Client:
    sign_in(client, ops, second_factor=True)
    return client


def _posted(value: Any) -> str:
    return "" if value is None else str(value)


def form_data(client: Client, url: str) -> dict[str, str]:
    """What the admin's change page would post back unchanged: its form and inline forms."""
    context = client.get(url).context
    form = context["adminform"].form
    data = {form.add_prefix(name): _posted(form[name].value()) for name in form.fields}
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for bound_form in (management, *formset.forms):
            for name in bound_form.fields:
                data[bound_form.add_prefix(name)] = _posted(bound_form[name].value())
    return data


def test_editing_a_company_writes_one_audit_row_with_the_changed_fields(
    admin_client: Client, ops: User
) -> None:
    company = factories.company("Fujian Trading Co.", approval_threshold="20000.00")
    factories.member(company, Role.OWNER)
    url = f"{COMPANIES}{company.pk}/change/"
    data = form_data(admin_client, url)
    before = AuditEvent.objects.count()

    response = admin_client.post(
        url,
        {**data, "approval_threshold": "50000.00", "billing_email": "ap@fujian.example"},
        REMOTE_ADDR="198.51.100.40",
    )

    assert response.status_code == HTTPStatus.FOUND, response.context["errors"]
    company.refresh_from_db()
    assert company.approval_threshold == Decimal("50000.00")
    assert company.billing_email == "ap@fujian.example"
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert [(e.action, e.actor, e.company, e.ip) for e in events] == [
        (AuditAction.COMPANY_EDITED, ops, company, "198.51.100.40")
    ]
    assert events[0].changes == {
        "approval_threshold": ["20000.00", "50000.00"],
        "billing_email": ["", "ap@fujian.example"],
    }
    # The members shown inline are untouched
    assert company.memberships.count() == 1


def test_saving_a_company_unchanged_writes_no_audit_row(admin_client: Client) -> None:
    company = factories.company()
    url = f"{COMPANIES}{company.pk}/change/"
    before = AuditEvent.objects.count()
    assert admin_client.post(url, form_data(admin_client, url)).status_code == HTTPStatus.FOUND
    assert AuditEvent.objects.count() == before


def test_adding_a_company_writes_one_audit_row_and_no_member(
    admin_client: Client, ops: User
) -> None:
    data = form_data(admin_client, f"{COMPANIES}add/")
    data.update(
        legal_name="  Xiamen Gifts Co.  ",
        credit_code=factories.credit_code(900),
        approval_threshold="30000.00",
        language="en",
    )

    response = admin_client.post(f"{COMPANIES}add/", data)

    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    company = Company.objects.get(credit_code=factories.credit_code(900))
    assert (company.legal_name, company.status) == ("Xiamen Gifts Co.", Company.Status.PENDING)
    assert company.approval_threshold == Decimal("30000.00")
    assert not Membership.objects.filter(company=company).exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.company) == (AuditAction.COMPANY_CREATED, ops, company)
