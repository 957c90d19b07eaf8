"""The OpenAPI schema and the Swagger UI page: for signed-in members and API keys only, served
without a CDN under the site's strict CSP."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from portal.models import Membership, Role
from tests import factories
from tests.api.helpers import Api, buyer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


SCHEMA_JSON = {"accept": "application/vnd.oai.openapi+json"}


def member_client(role: str = Role.PURCHASER) -> Client:
    """A signed-in member whose role needs no second factor."""
    client = Client()
    client.force_login(factories.member(factories.company(), role))
    return client


def test_the_schema_documents_the_api_the_key_and_the_idempotency_header():
    response = member_client().get("/api/schema/", headers=SCHEMA_JSON)

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
    assert "/api/v1/orders" in member_client().get("/api/schema/").text


def test_the_schema_is_valid_openapi_and_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/orders:" in target.read_text()


def _group(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, pattern
    return match.group(1)


def test_the_docs_page_loads_its_scripts_and_styles_from_this_site_only():
    client = member_client()
    response = client.get("/api/docs/")

    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    for directive in ("script-src", "style-src"):
        assert "http" not in _group(directive + r" ([^;]*)", csp)
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html, "inline style"
    assert " style=" not in html, "inline style attribute"
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert len(sources) == 3
    for src in sources:
        assert src.startswith("/"), src
        if src.startswith("/static/"):
            assert finders.find(src.removeprefix("/static/")), src
        else:
            script = client.get(src.replace("&amp;", "&"))
            assert script.status_code == 200
            assert "SwaggerUIBundle" in script.text
            assert "/api/schema/" in script.text
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(stylesheets) == 2
    for stylesheet in stylesheets:
        assert finders.find(stylesheet.removeprefix("/static/")), stylesheet


# --- Who may read them ---------------------------------------------------------------------------


def test_anonymous_requests_get_neither_the_schema_nor_the_docs():
    # The schema is an API answer: 401 with the key challenge, in the API's error shape
    schema = Client().get("/api/schema/", headers=SCHEMA_JSON)
    assert schema.status_code == 401
    assert schema["WWW-Authenticate"].startswith("Bearer")
    assert set(schema.json()) == {"detail", "code", "errors"}
    assert "paths" not in schema.text
    # The docs page sends a person to sign in, then back; its start-up script likewise
    for path in ("/api/docs/", "/api/docs/?script="):
        docs = Client().get(path)
        assert docs.status_code == 302
        assert docs["Location"].startswith("/login/?next=/api/docs/")
    # A wrong key is refused, not sent to the sign-in page
    assert Api("ecp_nope_nope").get("/api/schema/").status_code == 401
    assert Api("ecp_nope_nope").get("/api/docs/").status_code == 401


def test_a_signed_in_user_who_is_no_longer_a_member_is_refused():
    client = Client()
    client.force_login(factories.member(factories.company(), Role.VIEWER, email="gone@example.com"))
    Membership.objects.filter(user__email="gone@example.com").delete()

    assert client.get("/api/schema/", headers=SCHEMA_JSON).status_code == 403


def test_a_member_or_an_api_key_reads_the_schema_and_the_docs():
    assert member_client(Role.VIEWER).get("/api/schema/", headers=SCHEMA_JSON).status_code == 200
    assert member_client(Role.VIEWER).get("/api/docs/").status_code == 200
    key = Api(buyer().keys["viewer"])
    assert "/api/v1/orders" in key.get("/api/schema/", format="json").json()["paths"]
    assert key.get("/api/docs/").status_code == 200
