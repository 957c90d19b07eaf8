"""Each API error carries its own stable code, not a blanket "invalid": the code the service,
the serializer field or DRF gave it. Every code the code base raises is documented in
docs/api-errors.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from portal.api.exceptions import api_exception_handler
from portal.errors import DomainError, StateConflict
from tests import factories
from tests.api.helpers import ORDERS, buyer, line, order_body

pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing")]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api-errors.md"


def handled(exc: Exception) -> tuple[int, dict[str, Any]]:
    response = api_exception_handler(exc, {})
    assert response is not None
    return response.status_code, response.data


# --- Through the API ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_missing_idempotency_key_says_so_in_its_code() -> None:
    product = factories.product()
    response = buyer().api("purchaser").post(ORDERS, order_body(line(product)))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "idempotency_key_missing"
    assert list(body["errors"]) == ["Idempotency-Key"]
    assert all(isinstance(m, str) for m in body["errors"]["Idempotency-Key"])


@pytest.mark.django_db
def test_a_malformed_idempotency_key_says_so_in_its_code() -> None:
    product = factories.product()
    api = buyer().api("purchaser")
    response = api.post(ORDERS, order_body(line(product)), idempotency_key="k" * 129)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"


@pytest.mark.django_db
def test_a_missing_field_is_required() -> None:
    api = buyer().api("purchaser")
    missing = api.post(ORDERS, {"payment_method": "credit"}, idempotency_key="k-1")
    assert missing.status_code == 400
    assert missing.json()["code"] == "required"
    assert list(missing.json()["errors"]) == ["lines"]


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_parse_error() -> None:
    api = buyer().api("purchaser")
    response = api.client.post(
        ORDERS, data="{not json", content_type="application/json", headers={"Idempotency-Key": "x"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- The handler, for each kind of error ---------------------------------------------------------


def test_drf_field_errors_keep_their_codes_and_messages_stay_strings() -> None:
    class Lines(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=1)

    class Body(serializers.Serializer):
        name = serializers.CharField(max_length=3)
        kind = serializers.ChoiceField(choices=["file"], required=False)
        lines = Lines(many=True)

    serializer = Body(data={"name": "too long", "lines": [{"quantity": 1}, {"quantity": 0}]})
    assert not serializer.is_valid()
    status, data = handled(ValidationError(serializer.errors))
    assert status == 400
    # Two problems of different kinds: the generic code; each message stays a plain string.
    assert data["code"] == "invalid"
    assert set(data["errors"]) == {"name", "lines[2].quantity"}
    assert all(isinstance(m, str) for ms in data["errors"].values() for m in ms)

    serializer = Body(data={"name": "abc", "lines": [{"quantity": 0}, {"quantity": -1}]})
    assert not serializer.is_valid()
    _status, data = handled(ValidationError(serializer.errors))
    assert data["code"] == "min_value"
    assert set(data["errors"]) == {"lines[1].quantity", "lines[2].quantity"}

    serializer = Body(data={"name": "abc", "kind": "pigeon", "lines": []})
    assert not serializer.is_valid()
    _status, data = handled(ValidationError(serializer.errors))
    assert (data["code"], list(data["errors"])) == ("invalid_choice", ["kind"])


def test_a_drf_error_list_keeps_its_code() -> None:
    _status, data = handled(ValidationError(["one", "two"], code="catalog_changed"))
    assert data["code"] == "catalog_changed"
    assert data["errors"] == ["one", "two"]


def test_a_drf_error_without_a_code_is_invalid() -> None:
    _status, data = handled(ValidationError({"status": "Unknown status."}))
    assert data["code"] == "invalid"
    assert data["errors"] == {"status": ["Unknown status."]}


def test_a_domain_error_with_field_messages_keeps_its_code() -> None:
    status, data = handled(DomainError({"credit_code": ["Bad check digit."]}, code="credit_code"))
    assert status == 400
    assert data["code"] == "credit_code"
    assert data["errors"] == {"credit_code": ["Bad check digit."]}


def test_a_state_conflict_is_a_409_with_its_code() -> None:
    status, data = handled(StateConflict("Already paid.", code="order_paid"))
    assert (status, data["code"], data["errors"]) == (409, "order_paid", ["Already paid."])


def test_django_validation_errors_keep_the_codes_of_their_messages() -> None:
    single = DjangoValidationError("Too many rows.", code="too_many_rows")
    assert handled(single)[1]["code"] == "too_many_rows"

    same = DjangoValidationError(
        [DjangoValidationError("a", code="no_rows"), DjangoValidationError("b", code="no_rows")]
    )
    assert handled(same)[1]["code"] == "no_rows"

    by_field = DjangoValidationError(
        {"scopes": DjangoValidationError("x", code="scope_not_allowed")}
    )
    _status, data = handled(by_field)
    assert data["code"] == "scope_not_allowed"
    assert data["errors"] == {"scopes": ["x"]}

    mixed = DjangoValidationError(
        {"a": DjangoValidationError("x", code="empty"), "b": DjangoValidationError("y")}
    )
    assert handled(mixed)[1]["code"] == "invalid"


# --- The document ---------------------------------------------------------------------------------

SOURCES = ("portal", "cards", "billing")
# code="x" (a raise, a field's fail), default_code = "x" (an exception class), XXX_CODE = "x" (a
# module constant passed as code=), default_error_messages / self.fail keys of custom fields.
CODE_PATTERNS = [
    re.compile(r"\bcode\s*(?::\s*str\s*)?=\s*\"([a-z][a-z0-9_]*)\""),
    re.compile(r"\bdefault_code\s*=\s*\"([a-z][a-z0-9_]*)\""),
    re.compile(r"^[A-Z][A-Z_]*_CODE\s*=\s*\"([a-z][a-z0-9_]*)\"", re.MULTILINE),
    re.compile(r"\bself\.fail\(\s*\"([a-z][a-z0-9_]*)\""),
]
# Modules whose constants are not error codes: the settings (``portal/settings/``).
NOT_ERROR_PACKAGES = {"settings"}


def raised_codes() -> dict[str, set[str]]:
    """Every code written in the source of the apps, with the files that write it."""
    found: dict[str, set[str]] = {}
    for app in SOURCES:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or NOT_ERROR_PACKAGES.intersection(path.parts):
                continue
            text = path.read_text(encoding="utf-8")
            for pattern in CODE_PATTERNS:
                for code in pattern.findall(text):
                    found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def documented_codes() -> set[str]:
    return set(re.findall(r"^\| `([a-z][a-z0-9_]*)` \|", DOC.read_text(encoding="utf-8"), re.M))


def test_the_scan_finds_the_codes_it_should() -> None:
    codes = raised_codes()
    for code in ("idempotency_key_missing", "insufficient_credit", "order_state", "not_a_list"):
        assert code in codes


def test_every_code_the_source_raises_is_documented() -> None:
    missing = {
        code: sorted(files)
        for code, files in raised_codes().items()
        if code not in documented_codes()
    }
    assert not missing, f"add these codes to docs/api-errors.md: {missing}"


def test_the_codes_the_api_itself_answers_are_documented() -> None:
    ours = {
        "not_found",
        "server_error",
        "bad_request",
        "permission_denied",
        "not_authenticated",
        "authentication_failed",
        "method_not_allowed",
        "parse_error",
        "unsupported_media_type",
        "not_acceptable",
        "error",
        "conflict",
        "unprocessable",
        "invalid",
        "required",
        "null",
        "blank",
        "max_length",
        "min_length",
        "max_value",
        "min_value",
        "invalid_choice",
        "not_a_list",
        "empty",
        "max_digits",
        "max_decimal_places",
        "max_whole_digits",
        "date",
        "datetime",
        "unique",
    }
    assert not ours - documented_codes()
