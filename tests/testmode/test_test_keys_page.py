"""Test keys on the portal's API keys page: made with one tick, shown once as ``ecp_test_…``,
listed with a "test" badge beside the live keys, revoked like any key; another company's test
key is a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import ApiKey, AuditAction, AuditEvent
from portal.services.api_keys import api_key_authenticate
from tests import factories
from tests.api.helpers import ORDERS, Api
from tests.conftest import sign_in
from tests.testmode.helpers import sandbox_key_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def people(company):
    return factories.team(company)


def client_of(user, *, second_factor: bool = False) -> Client:
    client = Client()
    sign_in(client, user, second_factor=second_factor)
    return client


def test_a_member_creates_a_test_key_and_sees_it_once_marked_test(company, people):
    client = client_of(people["purchaser"])
    url = reverse("portal:api_keys")

    response = client.post(
        url, {"name": "ERP staging", "scopes": ["orders:read", "orders:write"], "test": "on"}
    )

    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.is_test
    assert key.company == company.sandbox
    shown = response.context["plaintext"]
    assert shown.startswith(f"ecp_test_{key.prefix}_")
    assert 'data-testid="new-test-key"' in response.text
    assert api_key_authenticate(shown) == key
    later = client.get(url).text
    assert shown not in later
    assert f"ecp_test_{key.prefix}_" in later
    assert 'data-testid="test-key-badge"' in later
    event = AuditEvent.objects.get(action=AuditAction.API_KEY_CREATED)
    assert event.company == company
    assert event.changes["test"] is True


def test_a_live_key_made_on_the_page_is_not_a_test_key(company, people):
    client = client_of(people["purchaser"])

    response = client.post(reverse("portal:api_keys"), {"name": "ERP", "scopes": ["orders:read"]})

    key = ApiKey.objects.get()
    assert not key.is_test
    assert key.company == company
    assert response.context["plaintext"].startswith(f"ecp_{key.prefix}_")
    assert 'data-testid="test-key-badge"' not in response.text


def test_an_owner_sees_and_revokes_a_members_test_key(company, people):
    plaintext = sandbox_key_for(company, people["purchaser"])
    key = ApiKey.objects.get()
    owner = client_of(people["owner"], second_factor=True)
    assert key.prefix in owner.get(reverse("portal:api_keys")).text

    response = owner.post(reverse("portal:api_key_revoke", args=[key.public_id]))

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Api(plaintext).get(ORDERS).status_code == 401
    revoked = AuditEvent.objects.get(action=AuditAction.API_KEY_REVOKED)
    assert revoked.company == company


def test_other_members_and_companies_do_not_see_a_test_key(company, people):
    sandbox_key_for(company, people["purchaser"])
    key = ApiKey.objects.get()
    approver = client_of(people["approver"], second_factor=True)
    assert key.prefix not in approver.get(reverse("portal:api_keys")).text
    assert approver.post(reverse("portal:api_key_revoke", args=[key.public_id])).status_code == 404

    other = factories.company()
    stranger = client_of(factories.team(other)["owner"], second_factor=True)
    assert key.prefix not in stranger.get(reverse("portal:api_keys")).text
    assert stranger.post(reverse("portal:api_key_revoke", args=[key.public_id])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
