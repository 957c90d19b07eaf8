"""Merchant API keys: stored as a digest and shown once, each API taking only its own kind of
key, scopes per endpoint, and revoked, frozen or suspended keys refused with a clear message."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError

from cards.audit import SpendAction
from cards.models import MerchantApiKey, MerchantStatus
from cards.services.spend import (
    merchant_key_authenticate,
    merchant_key_freeze,
    merchant_key_revoke,
    merchant_key_unfreeze,
)
from portal.models import AuditEvent
from portal.services.api_keys import api_key_digest
from tests import factories
from tests.api.helpers import Api
from tests.api.helpers import buyer as api_buyer
from tests.cards.spend.helpers import BALANCE, MerchantApi, merchant, merchant_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

UNKNOWN_CODE = {"code": "0000-0000"}


def test_a_new_key_is_kept_only_as_a_digest_and_shown_once() -> None:
    key, plaintext = merchant_key(scopes=["redeem", "balance", "balance"])
    assert plaintext.startswith(f"ecm_{key.prefix}_")
    stored = MerchantApiKey.objects.get(pk=key.pk)
    assert stored.digest == api_key_digest(plaintext)
    assert plaintext not in str(stored.__dict__)
    assert stored.scopes == ["balance", "redeem"]
    event = AuditEvent.objects.get(action=SpendAction.MERCHANT_KEY_CREATED)
    assert plaintext not in str(event.changes)
    assert merchant_key_authenticate(plaintext) == key
    assert merchant_key_authenticate(plaintext + "x") is None


def test_a_key_needs_a_name_and_known_scopes() -> None:
    with pytest.raises(ValidationError) as unknown:
        merchant_key(scopes=["balance", "orders:read"])
    assert "orders:read" in str(unknown.value)
    with pytest.raises(ValidationError):
        merchant_key(scopes=[])


def test_a_buyer_key_is_refused_by_the_merchant_api_and_a_merchant_key_by_the_buyer_api() -> None:
    buyer_key = api_buyer().keys["owner"]
    _key, plaintext = merchant_key()

    refused = MerchantApi(buyer_key).post(BALANCE, UNKNOWN_CODE)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.json()["code"] == "authentication_failed"
    assert "buyer" in refused.json()["detail"]
    assert refused["WWW-Authenticate"].startswith("Bearer")

    assert Api(plaintext).get("/api/v1/orders").status_code == HTTPStatus.UNAUTHORIZED
    assert MerchantApi(None).post(BALANCE, UNKNOWN_CODE).status_code == HTTPStatus.UNAUTHORIZED


def test_each_endpoint_needs_its_scope() -> None:
    _key, plaintext = merchant_key(scopes=["redeem"])
    refused = MerchantApi(plaintext).post(BALANCE, UNKNOWN_CODE)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "permission_denied"
    assert "balance" in refused.json()["detail"]
    assert MerchantApi(plaintext).client.get(BALANCE).status_code == 405


def test_a_revoked_key_stops_at_once() -> None:
    key, plaintext = merchant_key()
    merchant_key_revoke(key=key, actor=factories.operator())
    assert MerchantApi(plaintext).post(BALANCE, UNKNOWN_CODE).status_code == 401
    assert AuditEvent.objects.filter(action=SpendAction.MERCHANT_KEY_REVOKED).count() == 1


def test_a_frozen_key_says_so_until_an_operator_unfreezes_it_with_a_reason() -> None:
    key, plaintext = merchant_key()
    assert merchant_key_freeze(key_id=key.pk, reason="failure-burst")
    assert not merchant_key_freeze(key_id=key.pk, reason="failure-burst")  # one freeze, one alert

    frozen = MerchantApi(plaintext).post(BALANCE, UNKNOWN_CODE)
    assert frozen.status_code == HTTPStatus.UNAUTHORIZED
    assert frozen.json()["code"] == "merchant_key_frozen"
    assert "unfreeze" in frozen.json()["detail"]

    operator = factories.operator()
    with pytest.raises(ValidationError):
        merchant_key_unfreeze(key=key, reason=" ", actor=operator)
    merchant_key_unfreeze(key=key, reason="收银台程序错误已修复", actor=operator)
    key.refresh_from_db()
    assert (key.frozen_at, key.frozen_reason) == (None, "")
    event = AuditEvent.objects.get(action=SpendAction.MERCHANT_KEY_UNFROZEN)
    assert event.changes["reason"] == "收银台程序错误已修复"
    assert event.changes["frozen_reason"] == "failure-burst"
    assert MerchantApi(plaintext).post(BALANCE, UNKNOWN_CODE).status_code == HTTPStatus.NOT_FOUND


def test_a_suspended_merchants_keys_are_refused() -> None:
    shop = merchant()
    _key, plaintext = merchant_key(shop)
    shop.status = MerchantStatus.SUSPENDED
    shop.save()
    refused = MerchantApi(plaintext).post(BALANCE, UNKNOWN_CODE)
    assert (refused.status_code, refused.json()["code"]) == (401, "merchant_suspended")


def test_last_use_is_written_at_most_once_a_minute() -> None:
    key, plaintext = merchant_key()
    api = MerchantApi(plaintext)
    api.post(BALANCE, UNKNOWN_CODE)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api.post(BALANCE, UNKNOWN_CODE)
    key.refresh_from_db()
    assert key.last_used_at == first
