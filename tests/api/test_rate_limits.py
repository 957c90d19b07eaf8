"""Rate limits of the buyer API: per API key and per route class (read, write, upload, codes),
answered 429 with Retry-After past the limit, and RateLimit-* headers on every answer, a refusal
included. The merchant API reports its own limits with the same headers, from the counts it
makes anyway."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import math
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from portal import rate_limits
from portal.models import ApiKey
from tests.api.helpers import ORDERS, Api, buyer, key_for
from tests.cards.spend.helpers import BALANCE, merchant_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
WINDOW = 60
# A moment 17.25 s into a window: 42.75 s left, announced as 43.
NOW = 1_000_000 * WINDOW + 17.25


@pytest.fixture
def limits(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings.API_RATE_LIMIT_WINDOW_SECONDS = WINDOW
    settings.API_RATE_LIMITS = {"read": 5, "write": 3, "upload": 2, "codes": 1}
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(time=lambda: NOW))
    return settings


def standing(response: Any) -> tuple[int, int, int, str]:
    return (
        int(response["RateLimit-Limit"]),
        int(response["RateLimit-Remaining"]),
        int(response["RateLimit-Reset"]),
        response["RateLimit-Policy"],
    )


def test_every_answer_of_the_buyer_api_says_where_the_key_stands(limits: Settings) -> None:
    acme = buyer()
    viewer = acme.api("viewer")
    answers = [
        viewer.get(ORDERS),  # 200
        viewer.get(f"{ORDERS}/PO-NO-SUCH-ORDER"),  # 404
        viewer.get("/api/v1/no-such-endpoint"),  # the API's JSON 404
        viewer.get("/api/v1/statements"),  # 403: a viewer's role does not read statements
    ]
    assert [a.status_code for a in answers] == [200, 404, 404, 403]
    assert [standing(a) for a in answers] == [
        (5, 4, 43, "5;w=60"),
        (5, 3, 43, "5;w=60"),
        (5, 2, 43, "5;w=60"),
        (5, 1, 43, "5;w=60"),
    ]
    # A write: its own count; a refusal without a valid key, counted by address.
    refused = viewer.post(ORDERS, {}, idempotency_key="k-1")
    assert refused.status_code == 403
    assert standing(refused) == (3, 2, 43, "3;w=60")
    anonymous = Api(None).get(ORDERS)
    assert anonymous.status_code == 401
    assert standing(anonymous)[:2] == (5, 4)
    assert all(a.has_header("X-Request-ID") for a in [*answers, refused, anonymous])


def test_past_the_limit_the_answer_is_429_with_retry_after(limits: Settings) -> None:
    api = buyer().api("viewer")
    for _ in range(5):
        assert api.get(ORDERS).status_code == 200
    limited = api.get(ORDERS)
    assert limited.status_code == 429
    assert limited["Retry-After"] == "43" == limited["RateLimit-Reset"]
    assert limited["RateLimit-Remaining"] == "0"
    body = limited.json()
    assert body["code"] == "throttled"
    assert body["errors"] == []
    assert "try again in 43 seconds" in body["detail"]
    # Chinese when asked: the message is translated like every other.
    chinese = Api(buyer().keys["viewer"], language="zh-hans")
    for _ in range(5):
        chinese.get(ORDERS)
    assert chinese.get(ORDERS).status_code == 429


def test_the_next_window_opens_again(limits: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    api = buyer().api("viewer")
    for _ in range(6):
        api.get(ORDERS)
    assert api.get(ORDERS).status_code == 429
    later = math.floor(NOW / WINDOW + 1) * WINDOW + 0.5
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(time=lambda: later))
    again = api.get(ORDERS)
    assert again.status_code == 200
    assert standing(again) == (5, 4, 60, "5;w=60")


def test_one_keys_burst_does_not_limit_another_key(limits: Settings) -> None:
    acme = buyer()
    burst = acme.api("viewer")
    for _ in range(8):
        burst.get(ORDERS)
    assert burst.get(ORDERS).status_code == 429
    # Another member's key of the same company, and a second key of the same member.
    other = acme.api("owner")
    assert other.get(ORDERS).status_code == 200
    second = Api(key_for(acme.company, acme.people["viewer"]))
    answer = second.get(ORDERS)
    assert answer.status_code == 200
    assert answer["RateLimit-Remaining"] == "4"


def test_each_route_class_has_its_own_count(limits: Settings) -> None:
    acme = buyer()
    purchaser = acme.api("purchaser")
    for _ in range(6):
        purchaser.get(ORDERS)
    assert purchaser.get(ORDERS).status_code == 429
    # Reads are spent; writes are not.
    created = purchaser.post(ORDERS, {}, idempotency_key="write-1")
    assert created.status_code == 400
    assert standing(created)[:2] == (3, 2)

    # Uploads count apart from other writes: two files, then 429, while writes still pass.
    client = Client(headers={"authorization": f"Bearer {acme.keys['purchaser']}"})
    statuses = [
        client.post(
            "/api/v1/order-uploads", {"file": SimpleUploadedFile("o.csv", b"x")}
        ).status_code
        for _ in range(3)
    ]
    assert 429 not in statuses[:2]
    assert statuses[2] == 429
    assert purchaser.post(ORDERS, {}, idempotency_key="write-2").status_code == 400


def test_code_exports_have_the_tightest_limit(limits: Settings) -> None:
    acme = buyer()
    api = Api(key_for(acme.company, acme.people["finance"], [ApiKey.Scope.CODES_EXPORT]))
    url = f"{ORDERS}/PO-NO-SUCH-ORDER/codes"
    first = api.post(url, {"password": "a-Long-password-1"})
    assert first.status_code == 404
    assert standing(first)[:2] == (1, 0)
    assert api.post(url, {"password": "a-Long-password-1"}).status_code == 429
    # Other requests of the key are not held back.
    assert api.get(ORDERS).status_code in {200, 403}
    assert api.get(ORDERS).status_code != 429


def test_the_counter_says_what_is_left_and_when_the_window_ends() -> None:
    rate = rate_limits.RateLimit(name=f"unit-{uuid.uuid4().hex}", limit=2, window_seconds=10)
    now = 5_000_000.4
    counts = [rate_limits.rate_limit_count(rate, "subject", now=now) for _ in range(3)]
    assert [(c.count, c.remaining, c.reset, c.exceeded) for c in counts] == [
        (1, 1, 10, False),
        (2, 0, 10, False),
        (3, 0, 10, True),
    ]
    assert rate_limits.rate_limit_hit(rate, "subject", now=now + 9.5) == 1
    assert rate_limits.rate_limit_hit(rate, "subject", now=now + 10) is None  # the next window


def test_the_merchant_api_reports_its_own_limits(settings: Settings) -> None:
    settings.MERCHANT_THROTTLE_NAMESPACE = f"merchant-limits-test-{uuid.uuid4().hex}"
    settings.MERCHANT_RATE_PER_KEY = 3
    settings.MERCHANT_RATE_PER_MERCHANT = 100
    settings.MERCHANT_RATE_PER_IP = 100
    _key, plaintext = merchant_key()
    client = Client(headers={"authorization": f"Bearer {plaintext}", "accept-language": "en"})
    answers = [
        client.post(BALANCE, {"code": "ABCDE-FGHJK"}, content_type="application/json")
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a["RateLimit-Limit"] for a in answers} == {"3"}
    assert answers[3]["Retry-After"] == answers[3]["RateLimit-Reset"]
    assert answers[0]["RateLimit-Policy"] == f"3;w={settings.MERCHANT_RATE_WINDOW_SECONDS}"


def test_without_the_cache_the_api_answers_without_limits(
    limits: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def away(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("cache away")

    monkeypatch.setattr("portal.api.rate_limits.rate_limit_count", away)
    api = buyer().api("viewer")
    answers = [api.get(ORDERS) for _ in range(8)]
    assert {a.status_code for a in answers} == {200}
    assert not any(a.has_header("RateLimit-Limit") for a in answers)
    assert all(a.has_header("X-Request-ID") for a in answers)
