"""The OpenAPI schema and the Swagger UI page, served without a CDN under the strict CSP."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def test_the_schema_documents_the_api_the_key_and_the_idempotency_header():
    response = Client().get("/api/schema/", headers={"accept": "application/vnd.oai.openapi+json"})

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/orders",
        "/api/v1/orders/{number}",
        "/api/v1/orders/{number}/approve",
        "/api/v1/orders/{number}/reject",
        "/api/v1/orders/{number}/cancel",
        "/api/v1/orders/{number}/submit",
        "/api/v1/invoices",
        "/api/v1/invoices/{number}",
        "/api/v1/products",
    ):
        assert path in paths, path
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    create = paths["/api/v1/orders"]["post"]
    header = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is True
    assert create["security"] == [{"ApiKey": []}]
    assert "/api/v1/orders" in Client().get("/api/schema/").text


def test_the_schema_is_valid_openapi_and_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/orders:" in target.read_text()


def _group(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, pattern
    return match.group(1)


def test_the_docs_page_loads_its_scripts_from_this_site_only():
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    script_src = _group(r"script-src ([^;]*)", csp)
    assert "'unsafe-inline'" not in script_src
    assert "http" not in script_src
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert len(sources) == 3
    for src in sources:
        assert src.startswith("/"), src
        if src.startswith("/static/"):
            assert finders.find(src.removeprefix("/static/")), src
        else:
            script = Client().get(src.replace("&amp;", "&"))
            assert script.status_code == 200
            assert "SwaggerUIBundle" in script.text
            assert "/api/schema/" in script.text
    stylesheet = _group(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert finders.find(stylesheet.removeprefix("/static/"))
