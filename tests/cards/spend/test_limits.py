"""Limits against guessing: requests per key, merchant and address; failed look-ups per key,
merchant, address and code prefix, answered 429 with Retry-After; a burst of failures freezes the
key and tells the operators; and 10,000 guesses get no further than the limit allows."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import secrets
import time
from collections import Counter
from http import HTTPStatus

import pytest
from django.core import mail
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIRequestFactory

from cards import codes
from cards.api.merchant import BalanceView
from cards.models import LookupBlock, MerchantLookupFailure
from cards.services.spend import throttle
from cards.services.spend.keys import merchant_key_frozen_notify
from cards.services.spend.throttle import blocks_sweep
from tests import factories
from tests.cards.spend.helpers import (
    BALANCE,
    MerchantApi,
    issued_card,
    merchant,
    merchant_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

LOOSE = 1_000_000
WINDOW = 30 * 24 * 3600


@pytest.fixture
def limits(settings: Settings) -> Settings:
    """Every limit out of the way; each test tightens the one it is about."""
    for name in ("KEY", "MERCHANT", "IP"):
        setattr(settings, f"MERCHANT_RATE_PER_{name}", LOOSE)
        setattr(settings, f"MERCHANT_FAILURES_PER_{name}", LOOSE)
    settings.MERCHANT_FAILURES_PER_CODE_PREFIX = LOOSE
    settings.MERCHANT_FREEZE_FAILURES = LOOSE
    # Windows far longer than a test: a count never restarts in the middle of one (windows are
    # aligned on the clock).
    for name in ("RATE", "FAILURE", "FREEZE"):
        setattr(settings, f"MERCHANT_{name}_WINDOW_SECONDS", WINDOW)
    return settings


def random_code() -> str:
    body = "".join(secrets.choice(codes.CROCKFORD) for _ in range(codes.CODE_SYMBOLS))
    return body + codes.check_symbol(body)


def assert_throttled(response, window: int) -> None:
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS, response.content
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= window
    assert f"{response['Retry-After']} second" in response.json()["detail"]


# --- Requests -------------------------------------------------------------------------------------


def test_requests_are_limited_per_key(limits: Settings) -> None:
    limits.MERCHANT_RATE_PER_KEY = 3
    _key, plaintext = merchant_key()
    _other_key, other = merchant_key()
    api = MerchantApi(plaintext)
    statuses = [api.post(BALANCE, {"code": "x"}).status_code for _ in range(3)]
    assert statuses == [404, 404, 404]
    assert_throttled(api.post(BALANCE, {"code": "x"}), limits.MERCHANT_RATE_WINDOW_SECONDS)
    assert MerchantApi(other).post(BALANCE, {"code": "x"}).status_code == 404


def test_requests_are_limited_per_merchant_and_per_address(limits: Settings) -> None:
    limits.MERCHANT_RATE_PER_MERCHANT = 2
    limits.MERCHANT_RATE_PER_IP = 3
    shop = merchant()
    first, second = (MerchantApi(merchant_key(shop)[1], ip="192.0.2.1") for _ in range(2))
    assert first.post(BALANCE, {"code": "x"}).status_code == 404
    assert second.post(BALANCE, {"code": "x"}).status_code == 404
    assert_throttled(second.post(BALANCE, {"code": "x"}), WINDOW)
    # Another merchant from the same address is stopped by the address's count.
    elsewhere = MerchantApi(merchant_key()[1], ip="192.0.2.1")
    assert_throttled(elsewhere.post(BALANCE, {"code": "x"}), WINDOW)
    assert elsewhere.post(BALANCE, {"code": "x"}, ip="192.0.2.2").status_code == 404


# --- Failed look-ups ------------------------------------------------------------------------------


def test_failed_look_ups_are_limited_per_key_even_for_a_good_code(limits: Settings) -> None:
    limits.MERCHANT_FAILURES_PER_KEY = 3
    card = issued_card()
    api = MerchantApi(merchant_key()[1])
    for _ in range(3):
        assert api.post(BALANCE, {"code": random_code()}).status_code == 404
    assert api.post(BALANCE, {"code": card.code}).status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert_throttled(api.redeem(card.code, "1.00"), limits.MERCHANT_FAILURE_WINDOW_SECONDS)
    assert MerchantLookupFailure.objects.count() == 3
    assert MerchantApi(merchant_key()[1]).post(BALANCE, {"code": card.code}).status_code == 200


def test_a_limit_reached_blocks_until_its_window_ends_and_the_sweep_forgets_it(
    limits: Settings,
) -> None:
    limits.MERCHANT_FAILURES_PER_KEY = 2
    limits.MERCHANT_FAILURE_WINDOW_SECONDS = 3600
    key, plaintext = merchant_key()
    api = MerchantApi(plaintext)
    for _ in range(2):
        assert api.post(BALANCE, {"code": random_code()}).status_code == 404
    block = LookupBlock.objects.get()
    assert block.subject == f"key:{key.prefix}"
    # The block ends with the clock-aligned window, and says so in Retry-After.
    assert block.until.timestamp() % 3600 == 0
    assert 0 < block.until.timestamp() - time.time() <= 3600
    refused = api.post(BALANCE, {"code": random_code()})
    assert_throttled(refused, 3600)
    assert abs(int(refused["Retry-After"]) - (block.until.timestamp() - time.time())) <= 2
    # An ended block is ignored, then swept.
    assert blocks_sweep() == 0
    LookupBlock.objects.update(until=timezone.now() - datetime.timedelta(seconds=1))
    assert api.post(BALANCE, {"code": issued_card().code}).status_code == 200
    assert blocks_sweep() == 1
    assert not LookupBlock.objects.exists()


def test_failed_look_ups_are_limited_per_address_and_per_merchant(limits: Settings) -> None:
    limits.MERCHANT_FAILURES_PER_IP = 2
    limits.MERCHANT_FAILURES_PER_MERCHANT = 4
    shop = merchant()
    keys = [merchant_key(shop)[1] for _ in range(3)]
    from_one_address = [MerchantApi(key, ip="192.0.2.10") for key in keys]
    assert [a.post(BALANCE, {"code": random_code()}).status_code for a in from_one_address] == [
        404,
        404,
        429,
    ]
    spread = [MerchantApi(keys[i % 3], ip=f"192.0.2.{20 + i}") for i in range(4)]
    assert [a.post(BALANCE, {"code": random_code()}).status_code for a in spread] == [
        404,
        404,
        429,
        429,
    ]


def test_failed_look_ups_are_limited_per_code_prefix_across_keys_and_addresses(
    limits: Settings,
) -> None:
    """Someone who knows most of a code and tries the rest from many keys and addresses."""
    limits.MERCHANT_FAILURES_PER_CODE_PREFIX = 3
    card = issued_card()
    canonical = codes.normalize_code(card.code)
    tries = []
    for i in range(4):
        guess = canonical[:20] + "".join(secrets.choice(codes.CROCKFORD) for _ in range(4))
        guess += codes.check_symbol(guess)
        api = MerchantApi(merchant_key()[1], ip=f"198.51.100.{i + 1}")
        tries.append(api.post(BALANCE, {"code": guess}).status_code)
    assert tries == [404, 404, 404, 429]
    # Codes that start differently are not held back.
    assert MerchantApi(merchant_key()[1]).post(BALANCE, {"code": random_code()}).status_code == 404


def test_a_burst_of_failures_freezes_the_key_and_tells_the_operators(limits: Settings) -> None:
    limits.MERCHANT_FREEZE_FAILURES = 3
    operator = factories.operator("risk@issuer.example")
    key, plaintext = merchant_key()
    api = MerchantApi(plaintext)
    guesses = [random_code() for _ in range(3)]
    for guess in guesses:
        assert api.post(BALANCE, {"code": guess}).status_code == 404
    key.refresh_from_db()
    assert (key.frozen_at is not None, key.frozen_reason) == (True, "failure-burst")
    frozen = api.post(BALANCE, {"code": random_code()})
    assert (frozen.status_code, frozen.json()["code"]) == (401, "merchant_key_frozen")

    assert merchant_key_frozen_notify(key_id=key.pk) == "sent"
    (message,) = mail.outbox
    assert operator.email in message.to
    assert key.prefix in message.subject
    assert "3 failed card look-ups" in message.body
    assert "198.51.100.7" in message.body
    assert "/cards/merchantapikey/" in message.body
    for guess in guesses:
        assert guess[:8] not in message.body


def test_no_alert_for_a_key_unfrozen_meanwhile(limits: Settings) -> None:
    key, _plaintext = merchant_key()
    assert merchant_key_frozen_notify(key_id=key.pk) == "skipped"
    assert mail.outbox == []


# --- Guessing at scale ----------------------------------------------------------------------------


def guess(key: str, count: int, ips: list[str]) -> tuple[Counter[int], set[bytes]]:
    """``count`` random codes at the balance endpoint with this key, from these addresses in
    turn. The view is called in-process without the site's middleware (sessions, CSRF, sign-in
    lockout: nothing the merchant API uses), so 10,000 requests take seconds, not minutes."""
    view = BalanceView.as_view()
    factory = APIRequestFactory()
    statuses: Counter[int] = Counter()
    failures: set[bytes] = set()
    for i in range(count):
        request = factory.post(
            BALANCE,
            {"code": random_code()},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_ACCEPT_LANGUAGE="en",
            REMOTE_ADDR=ips[i % len(ips)],
        )
        response = view(request)
        response.render()
        statuses[response.status_code] += 1
        if response.status_code == HTTPStatus.NOT_FOUND:
            failures.add(response.content)
    return statuses, failures


def test_ten_thousand_random_codes_get_no_further_than_the_limits(limits: Settings) -> None:
    limits.MERCHANT_FAILURES_PER_KEY = 20
    limits.MERCHANT_FAILURES_PER_MERCHANT = 50
    limits.MERCHANT_FAILURES_PER_IP = 5
    started = time.monotonic()

    # One key from one address: the address's limit comes first, then nothing gets through.
    statuses, failures = guess(merchant_key()[1], 5_000, ["203.0.113.1"])
    assert statuses == {404: 5, 429: 4_995}
    assert len(failures) == 1

    # Ten keys of one merchant from 100 addresses: each address's and key's limits, and the
    # merchant's above them.
    shop = merchant()
    addresses = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(100)]
    spread: Counter[int] = Counter()
    for i in range(10):
        part, part_failures = guess(merchant_key(shop)[1], 500, addresses[i * 10 : (i + 1) * 10])
        spread += part
        failures |= part_failures
    assert spread == {404: 50, 429: 5_000 - 50}
    assert len(failures) == 1  # every failure answer is the same bytes
    assert MerchantLookupFailure.objects.count() == 55
    assert time.monotonic() - started < 60


def test_a_look_up_reads_the_blocks_of_every_subject_a_failure_counts() -> None:
    key, _plaintext = merchant_key()
    for ip, prefix in (("192.0.2.1", "ab" * 16), (None, "")):
        counted = [
            subject
            for _counter, subject, _limit in throttle._failure_counters(
                key=key, ip=ip, prefix=prefix, index=1
            )
        ]
        assert throttle.block_subjects(key=key, ip=ip, prefix=prefix) == counted


def test_request_counters_live_as_long_as_their_window(limits: Settings) -> None:
    key, _plaintext = merchant_key()
    for _ in range(3):
        throttle.request_admit(key=key, ip="192.0.2.9")
    redis = throttle._redis()
    assert redis is not None, "the merchant limits count in Redis"
    backend, client = redis
    window = throttle._window(limits.MERCHANT_RATE_WINDOW_SECONDS)
    name = backend.make_and_validate_key(throttle._name("rate", "key", key.pk, window.index))
    assert int(client.get(name)) == 3
    assert 0 < client.ttl(name) <= limits.MERCHANT_RATE_WINDOW_SECONDS + 5
