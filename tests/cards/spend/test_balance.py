"""The balance check by code, and the one answer every failed look-up gets: the same status,
the same bytes and the same work (one digest, one indexed query), whatever the real reason,
which is recorded for operators without the code."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import logging
import re
import secrets
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cards import codes
from cards.models import (
    Card,
    CardStatus,
    LookupFailureReason,
    MerchantApiKey,
    MerchantLookupFailure,
)
from cards.services.spend import canary_mark, card_find
from cards.services.spend import lookup as lookup_module
from portal.models import OutboxMessage
from tests.cards.spend.helpers import (
    BALANCE,
    IssuedCard,
    MerchantApi,
    issued_cards,
    merchant,
    merchant_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

Reason = LookupFailureReason


def random_code() -> str:
    """A well-formed code (its check symbol right) that no card has."""
    body = "".join(secrets.choice(codes.CROCKFORD) for _ in range(codes.CODE_SYMBOLS))
    return codes.format_code(body + codes.check_symbol(body))


def mistyped(code: str) -> str:
    """The code with its check symbol changed to one that fails both checks."""
    canonical = codes.normalize_code(code)
    body = canonical[:-1]
    wrong = next(
        ch
        for ch in codes.CROCKFORD
        if ch not in (codes.check_symbol(body), codes.legacy_check_symbol(body))
    )
    return codes.format_code(body + wrong)


@pytest.fixture
def cards() -> list[IssuedCard]:
    return issued_cards("500", 7)


def test_a_code_as_typed_answers_the_cards_balance(cards: list[IssuedCard]) -> None:
    _key, plaintext = merchant_key(scopes=["balance"])
    api = MerchantApi(plaintext)
    card = cards[0]
    card.card.held = 120
    card.card.save(update_fields=["held"])
    for typed in (card.code, card.code.lower(), card.code.replace("-", " "), f"  {card.code}  "):
        response = api.post(BALANCE, {"code": typed})
        assert response.status_code == HTTPStatus.OK, response.json()
        assert response.json() == {
            "serial": card.card.serial_display,
            "balance": "380.00",
            "currency": "CNY",
            "status": "active",
            "expires_at": timezone.localtime(card.card.expires_at).isoformat(),
        }
    assert not MerchantLookupFailure.objects.exists()


def test_a_spent_card_answers_a_zero_balance() -> None:
    card = issued_cards("100", 1)[0]
    Card.objects.filter(pk=card.card.pk).update(balance=0, status=CardStatus.DEPLETED)
    _key, plaintext = merchant_key()
    body = MerchantApi(plaintext).post(BALANCE, {"code": card.code}).json()
    assert (body["balance"], body["status"]) == ("0.00", "depleted")


def failure_cases(cards: list[IssuedCard]) -> dict[str, tuple[Any, str]]:
    """Each kind of failure: the code sent and the reason operators see."""
    frozen, voided, expired, past_date, canary, real = cards[:6]
    Card.objects.filter(pk=frozen.card.pk).update(status=CardStatus.FROZEN)
    Card.objects.filter(pk=voided.card.pk).update(status=CardStatus.VOIDED, balance=0)
    Card.objects.filter(pk=expired.card.pk).update(status=CardStatus.EXPIRED)
    Card.objects.filter(pk=past_date.card.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert canary_mark(card_ids=[canary.card.pk]) == 1
    return {
        "unknown": (random_code(), Reason.UNKNOWN),
        "wrong check symbol": (mistyped(real.code), Reason.CHECK),
        "frozen": (frozen.code, Reason.FROZEN),
        "voided": (voided.code, Reason.VOIDED),
        "expired": (expired.code, Reason.EXPIRED),
        "past its date": (past_date.code, Reason.EXPIRED),
        "empty": ("", Reason.MALFORMED),
        "spaces": ("   ", Reason.MALFORMED),
        "far too long": ("A" * 200, Reason.MALFORMED),
        "a number": (8600000000000015, Reason.FOREIGN),
        "bank card number": ("6222 0200 1234 5678 901", Reason.FOREIGN),
        "letters outside the alphabet": (real.code.replace(real.code[0], "U", 1), Reason.FOREIGN),
        "one symbol short": (real.code[:-2], Reason.FOREIGN),
        "canary": (canary.code, Reason.CANARY),
    }


def test_every_failure_is_answered_with_the_same_bytes_and_its_reason_is_kept(
    cards: list[IssuedCard],
) -> None:
    cases = failure_cases(cards)
    shop = merchant()
    answers: dict[str, tuple[int, bytes, list[tuple[str, str]]]] = {}
    for label, (code, _reason) in cases.items():
        # A key each: the canary freezes its key, and no key comes near a limit.
        _key, plaintext = merchant_key(shop)
        response = MerchantApi(plaintext, ip="203.0.113.9").post(BALANCE, {"code": code})
        # Headers about the request, not the card (its ID, how many requests are left) differ
        # from one request to the next whatever the code; every other byte is the same.
        headers = sorted(
            (name, value)
            for name, value in response.items()
            if name not in {"X-Request-ID", "RateLimit-Remaining", "RateLimit-Reset"}
        )
        answers[label] = (response.status_code, response.content, headers)

    first = answers["unknown"]
    assert first[0] == HTTPStatus.NOT_FOUND
    assert b'"code":"card_unavailable"' in first[1]
    different = {label: answer for label, answer in answers.items() if answer != first}
    assert different == {}

    recorded = list(
        MerchantLookupFailure.objects.order_by("pk").values_list(
            "reason", "endpoint", "client_ip", "serial_prefix"
        )
    )
    assert [row[0] for row in recorded] == [reason for _code, reason in cases.values()]
    assert {row[1:3] for row in recorded} == {("balance", "203.0.113.9")}
    found = {row[0]: row[3] for row in recorded if row[3]}
    assert found[Reason.FROZEN] == cards[0].card.serial_display[:12]
    assert set(found) == {Reason.FROZEN, Reason.VOIDED, Reason.EXPIRED, Reason.CANARY}
    # Never the code, in any form, in what operators see.
    stored = str(list(MerchantLookupFailure.objects.values()))
    for card in cards:
        canonical = codes.normalize_code(card.code)
        assert canonical[:8] not in stored
        assert card.code[:9] not in stored


def test_a_canary_freezes_the_key_at_once_and_alerts_the_operators(
    cards: list[IssuedCard], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    canary = cards[0]
    canary_mark(card_ids=[canary.card.pk])
    key, plaintext = merchant_key()
    api = MerchantApi(plaintext)
    with django_capture_on_commit_callbacks():
        assert api.post(BALANCE, {"code": canary.code}).status_code == HTTPStatus.NOT_FOUND
    key.refresh_from_db()
    assert key.frozen_at is not None
    assert key.frozen_reason == "canary"
    assert OutboxMessage.objects.filter(
        task="cards.tasks.merchant_key_frozen_alert", args=[key.pk]
    ).exists()
    # The next request, even for a good card, is refused until an operator looks.
    again = api.post(BALANCE, {"code": cards[1].code})
    assert (again.status_code, again.json()["code"]) == (401, "merchant_key_frozen")


def _shape(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|\"s\d+_x\d+\"", "?", sql)


def test_every_failure_does_the_same_work(cards: list[IssuedCard]) -> None:
    cases = failure_cases(cards)
    del cases["canary"]  # it also freezes the key
    _key, plaintext = merchant_key()
    api = MerchantApi(plaintext)
    api.post(BALANCE, {"code": random_code()})  # the key's last use is written once a minute
    digests = mock.Mock(wraps=codes.code_digest)
    work: dict[str, list[str]] = {}
    with mock.patch.object(lookup_module.codes, "code_digest", digests):
        for label, (code, _reason) in cases.items():
            digests.reset_mock()
            with CaptureQueriesContext(connection) as queries:
                assert api.post(BALANCE, {"code": code}).status_code == HTTPStatus.NOT_FOUND
            assert digests.call_count == 1, label
            work[label] = [_shape(query["sql"]) for query in queries.captured_queries]
    unknown = work["unknown"]
    assert any('"cards_card"."digest" =' in sql for sql in unknown)
    assert {label: shapes for label, shapes in work.items() if shapes != unknown} == {}


def test_the_look_up_reads_no_secret_column(cards: list[IssuedCard]) -> None:
    with CaptureQueriesContext(connection) as queries:
        card = card_find(code=cards[0].code)
    assert card.pk == cards[0].card.pk
    (select,) = [q["sql"] for q in queries.captured_queries]
    assert "ciphertext" not in select
    assert "key_id" not in select


def test_the_key_is_not_charged_for_a_balance_it_did_not_ask(cards: list[IssuedCard]) -> None:
    # A key without the balance scope never reaches the look-up: nothing counted or recorded.
    _key, plaintext = merchant_key(scopes=[MerchantApiKey.Scope.REDEEM])
    assert MerchantApi(plaintext).post(BALANCE, {"code": random_code()}).status_code == 403
    assert not MerchantLookupFailure.objects.exists()


def test_no_code_reaches_the_logs(
    cards: list[IssuedCard], caplog: pytest.LogCaptureFixture
) -> None:
    _key, plaintext = merchant_key()
    api = MerchantApi(plaintext)
    good, bad = cards[0].code, mistyped(cards[1].code)
    with caplog.at_level(logging.DEBUG):
        api.post(BALANCE, {"code": good})
        api.post(BALANCE, {"code": bad})
        api.redeem(good, "1.00")
        api.redeem(bad, "1.00")
    logged = caplog.text
    assert "/api/v1/merchant/balance" in logged  # the 404 was logged, by its path only
    for code in (good, bad):
        canonical = codes.normalize_code(code) if code == good else code.replace("-", "")
        assert code not in logged
        assert canonical not in logged
