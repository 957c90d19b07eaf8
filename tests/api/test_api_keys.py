"""API keys: each member creates their own, acting for them, with scopes their role allows;
stored hashed, shown once, revoked at once."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.models import ApiKey, AuditAction, AuditEvent, Company, Membership, Role
from portal.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from tests import factories
from tests.api.helpers import ORDERS, Api
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company() -> Company:
    return factories.company()


@pytest.fixture
def people(company: Company) -> dict:
    return factories.team(company)


def create(company: Company, people: dict, **overrides) -> tuple[ApiKey, str]:
    arguments = {
        "company": company,
        "user": people["purchaser"],
        "name": "ERP",
        "scopes": [ApiKey.Scope.ORDERS_READ, ApiKey.Scope.ORDERS_WRITE],
        "ip": "203.0.113.9",
    }
    arguments.update(overrides)
    return api_key_create(**arguments)


def test_a_new_key_is_returned_once_and_stored_only_as_a_digest(company, people):
    key, plaintext = create(company, people)

    assert plaintext.startswith(f"ecp_{key.prefix}_")
    assert len(plaintext) >= len("ecp_") + 8 + 1 + 32
    key.refresh_from_db()
    assert key.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    secret = plaintext.split("_", 2)[2]  # the secret itself may contain "_"
    stored = [key.name, key.prefix, key.digest, str(key.scopes)]
    assert not any(secret in value for value in stored)
    event = AuditEvent.objects.get(action=AuditAction.API_KEY_CREATED)
    assert event.actor == people["purchaser"]
    assert key.user == key.created_by == people["purchaser"]
    assert event.changes["prefix"] == key.prefix
    assert event.changes["holder"] == people["purchaser"].email
    assert secret not in str(event.changes)
    assert api_key_authenticate(plaintext) == key


def test_only_a_member_creates_keys_for_the_company(company, people):
    outsider = factories.member(factories.company(), Role.PURCHASER)
    with pytest.raises(PermissionDenied):
        create(company, people, user=outsider)
    assert not ApiKey.objects.exists()


def test_the_key_must_have_known_scopes_and_a_name(company, people):
    with pytest.raises(ValidationError) as exc:
        create(company, people, scopes=["orders:read", "cards:reveal"])
    assert "cards:reveal" in exc.value.message_dict["scopes"][0]
    with pytest.raises(ValidationError) as exc:
        create(company, people, scopes=[])
    assert "scopes" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        create(company, people, name="   ")
    assert "name" in exc.value.message_dict
    assert not ApiKey.objects.exists()


def test_a_key_stops_working_when_revoked_its_member_leaves_or_its_company_is_suspended(
    company, people
):
    key, plaintext = create(company, people)
    assert api_key_authenticate(plaintext) == key
    assert api_key_authenticate(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert api_key_authenticate("ecp_nonexist_" + "x" * 43) is None
    assert api_key_authenticate("") is None

    Company.objects.filter(pk=company.pk).update(status=Company.Status.SUSPENDED)
    assert api_key_authenticate(plaintext) is None
    Company.objects.filter(pk=company.pk).update(status=Company.Status.ACTIVE)

    Membership.objects.filter(user=people["purchaser"], company=company).delete()
    assert api_key_authenticate(plaintext) is None
    Membership.objects.create(user=people["purchaser"], company=company, role=Role.PURCHASER)
    authenticated = api_key_authenticate(plaintext)
    assert authenticated == key
    assert getattr(authenticated, "holder_role", None) == Role.PURCHASER

    api_key_revoke(key=key, actor=people["owner"], ip="203.0.113.9")
    assert api_key_authenticate(plaintext) is None
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 1
    # Revoking twice changes nothing and writes no second event.
    api_key_revoke(key=key, actor=people["owner"])
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 1


def test_the_holder_or_an_owner_revokes(company, people):
    key, _plaintext = create(company, people)
    with pytest.raises(PermissionDenied):
        api_key_revoke(key=key, actor=people["approver"])
    key.refresh_from_db()
    assert key.revoked_at is None
    api_key_revoke(key=key, actor=people["purchaser"])
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_last_use_is_written_at_most_once_a_minute(company, people):
    key, plaintext = create(company, people)
    assert key.last_used_at is None
    api_key_authenticate(plaintext)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api_key_authenticate(plaintext)
    key.refresh_from_db()
    assert key.last_used_at == first
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=two_minutes_ago)
    api_key_authenticate(plaintext)
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert key.last_used_at > two_minutes_ago + timedelta(minutes=1)


# --- Authentication over HTTP --------------------------------------------------------------------


def test_requests_without_a_valid_key_get_401(company, people):
    key, plaintext = create(company, people)

    response = Api(None).get(ORDERS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"

    assert Api("ecp_wrongkey_" + "x" * 43).get(ORDERS).status_code == 401
    assert Api(plaintext).get(ORDERS).status_code == 200
    assert Client().get(ORDERS, headers={"x-api-key": plaintext}).status_code == 200
    basic = Client().get(ORDERS, headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401

    api_key_revoke(key=key, actor=people["owner"])
    response = Api(plaintext).get(ORDERS)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_signed_in_portal_session_is_not_an_api_credential(company, people):
    client = Client()
    sign_in(client, people["owner"], second_factor=True)
    assert client.get(ORDERS).status_code == 401


def test_a_key_without_the_scope_gets_403_naming_it(company, people):
    _key, plaintext = create(company, people, scopes=[ApiKey.Scope.INVOICES_READ])
    response = Api(plaintext).get(ORDERS)
    assert response.status_code == 403
    assert "orders:read" in response.json()["detail"]
    assert Api(plaintext).get("/api/v1/invoices").status_code == 200


def test_errors_follow_accept_language(company, people):
    english = Api(None, language="en").get(ORDERS).json()["detail"]
    chinese = Api(None, language="zh-hans").get(ORDERS).json()["detail"]
    assert english == "Authentication credentials were not provided."
    assert chinese == "身份认证信息未提供。"


# --- Portal pages --------------------------------------------------------------------------------


def owner_client(people: dict) -> Client:
    client = Client()
    sign_in(client, people["owner"], second_factor=True)
    return client


def test_a_member_creates_their_own_key_and_sees_it_once(company, people):
    client = Client()
    sign_in(client, people["purchaser"], second_factor=False)
    url = reverse("portal:api_keys")
    assert client.get(url).status_code == 200

    response = client.post(
        url, {"name": "ERP production", "scopes": ["orders:read", "orders:write"]}
    )

    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.user == key.created_by == people["purchaser"]
    assert key.scopes == ["orders:read", "orders:write"]
    shown = response.context["plaintext"]
    assert shown.startswith(f"ecp_{key.prefix}_")
    assert shown in response.text
    assert "will not be shown again" in response.text
    assert "no-store" in response["Cache-Control"]
    assert shown not in str(dict(client.session))
    assert api_key_authenticate(shown) == key
    later = client.get(url)
    assert shown not in later.text
    assert key.prefix in later.text


def test_the_form_reports_a_missing_scope(company, people):
    client = owner_client(people)
    response = client.post(reverse("portal:api_keys"), {"name": "ERP"})
    assert response.status_code == 200
    assert response.context["form"].errors["scopes"]
    assert not ApiKey.objects.exists()


def test_an_owner_revokes_a_key(company, people):
    key, plaintext = create(company, people)
    client = owner_client(people)

    response = client.post(reverse("portal:api_key_revoke", args=[key.public_id]))

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Api(plaintext).get(ORDERS).status_code == 401


def test_other_members_neither_see_nor_revoke_someone_elses_key(company, people):
    key, _plaintext = create(company, people)
    client = Client()
    sign_in(client, people["approver"], second_factor=True)
    page = client.get(reverse("portal:api_keys"))
    assert page.status_code == 200
    assert key.prefix not in page.text
    assert client.post(reverse("portal:api_key_revoke", args=[key.public_id])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert key.prefix in owner_client(people).get(reverse("portal:api_keys")).text


def test_another_companys_key_is_not_found(company, people):
    other = factories.company()
    other_people = factories.team(other)
    key, _plaintext = create(other, other_people)
    client = owner_client(people)
    assert client.post(reverse("portal:api_key_revoke", args=[key.public_id])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
