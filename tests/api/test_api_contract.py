"""The OpenAPI document is the contract: valid OpenAPI, in English, about the API (not the code),
and saying what the server does (shapes, types, content types, limits, enums)."""

# mypy: disable-error-code="index"

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from openapi_spec_validator import validate

from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SCHEMA_JSON = {"accept": "application/vnd.oai.openapi+json"}


def fetch_schema(language: str = "en") -> dict[str, Any]:
    client = Client(headers={"accept-language": language, **SCHEMA_JSON})
    client.force_login(factories.member(factories.company(), "purchaser"))
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def schema() -> dict[str, Any]:
    return fetch_schema()


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "allOf" in node and len(node["allOf"]) == 1:
        return resolve(schema, node["allOf"][0])
    return node


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


def response_schema(schema: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    content = schema["paths"][path][method]["responses"]["200"]["content"]
    return resolve(schema, content["application/json"]["schema"])


def parameter(schema: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    return next(p for p in schema["paths"][path][method]["parameters"] if p["name"] == name)


# --- 14. A valid document ------------------------------------------------------------------------


def test_the_schema_is_valid_openapi(schema):
    validate(schema)


def test_no_default_falls_outside_its_enum(schema):
    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for node in walk(schema["components"]):
        if "default" in node and "allOf" in node:
            enums = [resolve(schema, part).get("enum") for part in node["allOf"]]
            for enum in filter(None, enums):
                assert node["default"] in enum, node


# --- 18. English, and about the API --------------------------------------------------------------

_CODE_NAMES = [
    (re.compile(r"\b[a-z_]+\.(?:[a-z_]+\.)+[a-z_]+\b"), "a dotted module path"),
    (re.compile(r"(?<![\w{])_[a-z][a-z0-9_]*"), "a _private name"),
    (re.compile(r"\.py\b"), "a .py file"),
    (re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"), "Chinese text"),
]


def _texts(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary", "title") and isinstance(value, str):
                yield f"{where}.{key}", value
            else:
                yield from _texts(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, f"{where}[{index}]")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_schema_is_in_english_and_describes_the_api_not_the_code(language):
    schema = fetch_schema(language)
    problems = [
        f"{where}: {what}: {text!r}"
        for where, text in _texts(schema)
        for pattern, what in _CODE_NAMES
        if pattern.search(text)
    ]
    assert problems == []
    assert schema["info"]["description"].startswith("Order prepaid e-cards")


# --- 15. The schema says what the server does ----------------------------------------------------


def test_aging_is_one_object(schema):
    aging = response_schema(schema, "/api/v1/aging")
    assert aging.get("type") == "object"
    assert {"as_of", "currency", "buckets", "total", "invoices"} <= set(aging["properties"])


def test_the_upload_result_declares_what_the_server_sends(schema):
    result = resolve(schema, component(schema, "OrderUploadResult"))
    properties = result["properties"]
    for name in ("notes", "warnings"):
        item = resolve(schema, properties[name]["items"])
        assert item["type"] == "object"
        assert "message" in item["properties"]
    assert properties["duplicate_of"]["type"] == "array"
    assert properties["duplicate_of"]["items"]["type"] == "string"
    assert set(result["required"]) <= set(properties)
    for name in (
        "header",
        "columns",
        "unknown_columns",
        "line_count",
        "total_label",
        "needs_registration",
        "note_count",
        "warning_count",
        "error_count",
    ):
        assert name in properties, name
    assert "lines_file" not in properties
    progress = resolve(schema, component(schema, "OrderUploadProgress"))
    for name in ("status_label", "error_count", "failure"):
        assert name in progress["properties"], name
    assert set(resolve(schema, progress["properties"]["status"])["enum"]) == {
        "received",
        "checking",
        "valid",
        "invalid",
        "failed",
        "confirmed",
        "discarded",
    }


def test_statement_downloads_declare_their_content_types(schema):
    content = schema["paths"]["/api/v1/statements/{id}/download"]["get"]["responses"]["200"]
    assert set(content["content"]) == {
        "application/pdf",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert "X-Content-SHA256" in content["headers"]


def test_reason_is_required_and_lines_may_not_be_empty(schema):
    reason = resolve(schema, component(schema, "ReasonRequest"))
    assert reason["required"] == ["reason"]
    assert reason["properties"]["reason"]["minLength"] == 1
    create = resolve(schema, component(schema, "OrderCreateRequest"))
    assert create["properties"]["lines"]["minItems"] == 1


def test_filters_and_headers_declare_their_formats(schema):
    for name in ("created_after", "created_before"):
        declared = parameter(schema, "/api/v1/orders", name)["schema"]
        assert declared.get("format") in ("date", "date-time") or "anyOf" in declared, name
    for path, method in (("/api/v1/orders", "post"), ("/api/v1/orders/{number}/submit", "post")):
        header = parameter(schema, path, "Idempotency-Key", method)["schema"]
        assert header["maxLength"] == 128
        assert header["minLength"] == 1
        assert header["pattern"] == "^[\\x21-\\x7e]+$"


def test_card_status_is_an_enum(schema):
    card = resolve(schema, component(schema, "Card"))
    status = resolve(schema, card["properties"]["status"])
    assert set(status["enum"]) == {"active", "frozen", "expired", "voided", "depleted"}


def test_every_operation_documents_its_errors(schema):
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not {"400", "401", "403"} <= set(operation["responses"])
    ]
    assert missing == []


def test_upload_confirm_takes_json_only(schema):
    confirm = schema["paths"]["/api/v1/order-uploads/{public_id}/confirm"]["post"]
    assert list(confirm["requestBody"]["content"]) == ["application/json"]
    upload = schema["paths"]["/api/v1/order-uploads"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]


def test_the_invoice_pdf_is_documented(schema):
    operation = schema["paths"]["/api/v1/invoices/{number}/pdf"]["get"]
    ok = operation["responses"]["200"]
    assert list(ok["content"]) == ["application/pdf"]
    assert "X-Content-SHA256" in ok["headers"]
