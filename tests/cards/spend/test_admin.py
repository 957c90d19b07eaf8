"""Operators in the admin: merchants added and edited through the audited service, keys created
with their secret shown once, revoked, and unfrozen with a reason, and the failed look-ups with
their real reasons (never a code)."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from cards.audit import SpendAction
from cards.models import Merchant, MerchantApiKey, MerchantLookupFailure
from cards.services.spend import merchant_key_authenticate, merchant_key_freeze
from portal.models import AuditEvent, User
from portal.services.api_keys import api_key_digest
from tests.cards.spend.helpers import BALANCE, MerchantApi, issued_card, merchant, merchant_key
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

OPS = "/ops/cards/"


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def admin_client(client: Client, ops: User) -> Client:
    sign_in(client, ops, second_factor=True)
    return client


def test_an_operator_adds_and_edits_a_merchant_through_the_audited_service(
    admin_client: Client, ops: User
) -> None:
    added = admin_client.post(
        f"{OPS}merchant/add/",
        {
            "name": " 好又多超市 ",
            "status": "active",
            "settlement_account_name": "好又多超市有限公司",
            "settlement_bank": "中国银行上海分行",
            "settlement_account_number": "6216 6100 0000 1234",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert added.status_code == HTTPStatus.FOUND, added.content[:2000]
    shop = Merchant.objects.get()
    assert shop.name == "好又多超市"
    event = AuditEvent.objects.get(action=SpendAction.MERCHANT_CREATED)
    assert event.actor == ops

    page = admin_client.get(f"{OPS}merchant/{shop.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    listing = admin_client.get(f"{OPS}merchant/")
    assert "好又多超市" in listing.text
    assert admin_client.post(f"{OPS}merchant/{shop.pk}/delete/").status_code == 403


def test_a_new_keys_secret_is_shown_once_and_never_stored(admin_client: Client) -> None:
    shop = merchant()
    form = admin_client.get(f"{OPS}merchantapikey/add/")
    assert form.status_code == HTTPStatus.OK
    created = admin_client.post(
        f"{OPS}merchantapikey/add/",
        {"merchant": shop.pk, "name": "Store 12 checkout", "scopes": ["balance", "redeem"]},
    )
    assert created.status_code == HTTPStatus.OK
    assert "no-cache" in created["Cache-Control"]
    (plaintext,) = re.findall(r"ecm_[a-z0-9]{8}_[A-Za-z0-9_-]+", created.text)
    key = MerchantApiKey.objects.get()
    assert (key.name, key.scopes) == ("Store 12 checkout", ["balance", "redeem"])
    assert key.digest == api_key_digest(plaintext)
    assert merchant_key_authenticate(plaintext) == key
    # Never again: not on the key's page, nor in the list.
    assert plaintext not in admin_client.get(f"{OPS}merchantapikey/{key.pk}/change/").text
    assert plaintext not in admin_client.get(f"{OPS}merchantapikey/").text


def test_a_key_needs_a_scope(admin_client: Client) -> None:
    shop = merchant()
    refused = admin_client.post(
        f"{OPS}merchantapikey/add/", {"merchant": shop.pk, "name": "till", "scopes": []}
    )
    assert refused.status_code == HTTPStatus.OK
    assert not MerchantApiKey.objects.exists()
    assert "This field is required" in refused.text


def test_an_operator_revokes_a_key(admin_client: Client) -> None:
    key, plaintext = merchant_key()
    page = admin_client.get(f"{OPS}merchantapikey/{key.pk}/change/")
    assert f"{OPS}merchantapikey/{key.pk}/revoke/" in page.text
    assert "/unfreeze/" not in page.text
    confirm = admin_client.get(f"{OPS}merchantapikey/{key.pk}/revoke/")
    assert key.prefix in confirm.text
    done = admin_client.post(f"{OPS}merchantapikey/{key.pk}/revoke/")
    assert done.status_code == HTTPStatus.FOUND
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert MerchantApi(plaintext).post(BALANCE, {"code": "x"}).status_code == 401


def test_a_frozen_key_is_unfrozen_with_a_reason(admin_client: Client, ops: User) -> None:
    key, plaintext = merchant_key()
    merchant_key_freeze(key_id=key.pk, reason="failure-burst")
    page = admin_client.get(f"{OPS}merchantapikey/{key.pk}/change/")
    assert "Too many failed card look-ups" in page.text
    url = f"{OPS}merchantapikey/{key.pk}/unfreeze/"
    assert url in page.text
    no_reason = admin_client.post(url, {"reason": ""})
    assert no_reason.status_code == HTTPStatus.OK
    key.refresh_from_db()
    assert key.frozen_at is not None
    done = admin_client.post(url, {"reason": "Till 3 sent test codes; fixed."})
    assert done.status_code == HTTPStatus.FOUND
    key.refresh_from_db()
    assert key.frozen_at is None
    event = AuditEvent.objects.get(action=SpendAction.MERCHANT_KEY_UNFROZEN)
    assert (event.actor, event.changes["reason"]) == (ops, "Till 3 sent test codes; fixed.")
    assert MerchantApi(plaintext).post(BALANCE, {"code": "x"}).status_code == 404


def test_staff_without_the_change_permission_cannot_revoke_or_unfreeze(client: Client) -> None:
    viewer = User.objects.create_user("view@issuer.example", "Correct-Horse-42", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_merchantapikey"))
    sign_in(client, viewer, second_factor=True)
    key, _plaintext = merchant_key()
    merchant_key_freeze(key_id=key.pk, reason="canary")
    assert client.get(f"{OPS}merchantapikey/{key.pk}/change/").status_code == 200
    assert client.post(f"{OPS}merchantapikey/{key.pk}/revoke/").status_code == 403
    unfreeze = client.post(f"{OPS}merchantapikey/{key.pk}/unfreeze/", {"reason": "x"})
    assert unfreeze.status_code == 403
    assert client.get(f"{OPS}merchantapikey/add/").status_code == 403


def test_failed_look_ups_show_their_reasons_and_no_code(admin_client: Client) -> None:
    card = issued_card()
    key, plaintext = merchant_key()
    api = MerchantApi(plaintext, ip="203.0.113.50")
    api.post(BALANCE, {"code": card.code[:-1] + "*"})
    api.post(BALANCE, {"code": "hello"})
    assert MerchantLookupFailure.objects.count() == 2
    listing = admin_client.get(f"{OPS}merchantlookupfailure/")
    assert listing.status_code == HTTPStatus.OK
    text = listing.text
    assert "Wrong check symbol (a typo)" in text
    assert "Not our code format" in text
    assert "203.0.113.50" in text
    assert f"ecm_{key.prefix}_" in text
    assert card.code[:10] not in text
    assert "hello" not in text
    failure = MerchantLookupFailure.objects.first()
    assert admin_client.get(f"{OPS}merchantlookupfailure/{failure.pk}/change/").status_code == 200
    assert admin_client.get(f"{OPS}merchantlookupfailure/add/").status_code == 403
    assert admin_client.get(f"{OPS}cardhold/").status_code == 200
