"""The merchant API in the OpenAPI document: its endpoints, their merchant-key security, the
Idempotency-Key on what moves money, and the answers a checkout must handle (the one failure
answer, insufficient balance with the amount available, 429 with Retry-After)."""

# mypy: disable-error-code="index"

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_api_contract import fetch_schema, resolve

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

MERCHANT = "/api/v1/merchant"
MOVES_MONEY = [
    "/redemptions",
    "/redemptions/{id}/void",
    "/refunds",
    "/holds",
    "/holds/{id}/capture",
]
LOOKS_UP_CODES = ["/balance", "/redemptions", "/holds"]


@pytest.fixture
def schema() -> dict[str, Any]:
    return fetch_schema()


def operation(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return schema["paths"][f"{MERCHANT}{path}"]["post"]


def test_every_merchant_endpoint_is_documented_with_merchant_keys_only(schema) -> None:
    merchant_paths = sorted(p for p in schema["paths"] if p.startswith(MERCHANT))
    assert merchant_paths == sorted(
        f"{MERCHANT}{p}" for p in [*MOVES_MONEY, "/balance", "/holds/{id}/release"]
    )
    scheme = schema["components"]["securitySchemes"]["MerchantKey"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == (
        "http",
        "bearer",
        "ecm_<prefix>_<secret>",
    )
    for path in merchant_paths:
        post = schema["paths"][path]["post"]
        assert post["security"] == [{"MerchantKey": []}], path
        assert post["tags"] == ["merchant"], path
        assert {"400", "401", "403", "404", "429"} <= set(post["responses"]), path
        retry = post["responses"]["429"]["headers"]["Retry-After"]
        assert retry["schema"]["type"] == "integer"
    # The buyer endpoints do not take merchant keys.
    assert schema["paths"]["/api/v1/orders"]["get"]["security"] == [{"ApiKey": []}]


def test_what_moves_money_needs_an_idempotency_key(schema) -> None:
    for path in MOVES_MONEY:
        header = next(
            p for p in operation(schema, path)["parameters"] if p["name"] == "Idempotency-Key"
        )
        assert header["required"] is True, path
        assert "422" in operation(schema, path)["responses"], path


def test_the_failure_answer_and_the_refusals_are_described(schema) -> None:
    for path in LOOKS_UP_CODES:
        description = operation(schema, path)["responses"]["404"]["description"]
        assert "card_unavailable" in description, path
    insufficient = operation(schema, "/redemptions")["responses"]["409"]
    body = resolve(schema, insufficient["content"]["application/json"]["schema"])
    assert {"detail", "code", "errors", "available"} <= set(body["properties"])
    ok = operation(schema, "/balance")["responses"]["200"]
    balance = resolve(schema, ok["content"]["application/json"]["schema"])
    assert set(balance["properties"]) == {"serial", "balance", "currency", "status", "expires_at"}
    assert set(resolve(schema, balance["properties"]["status"])["enum"]) == {"active", "depleted"}
    request = resolve(
        schema,
        operation(schema, "/redemptions")["requestBody"]["content"]["application/json"]["schema"],
    )
    assert set(request["required"]) == {"code", "amount", "merchant_reference"}
