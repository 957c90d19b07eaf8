"""Everything under /api/ answers JSON in the API's error shape, with DEBUG on (the development
server) as well as off: a path parameter outside its route's pattern, a trailing slash, an
unknown route; and a method an endpoint does not have is a 405 with an Allow header, whatever
the key's scopes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from portal.models import ApiKey
from tests.api.helpers import ORDERS, Api, buyer, key_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SHAPE = {"detail", "code", "errors"}


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert set(body) == SHAPE
    assert body["code"] == code
    assert body["detail"]
    assert body["errors"] == []
    return body


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request: pytest.FixtureRequest, settings: Settings) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


NOT_FOUND = [
    "/api/v1/products/not-a-uuid",  # outside the route's UUID pattern
    "/api/v1/payments/xyz",
    "/api/v1/statements/not-a-uuid/download",
    "/api/v1/orders/",  # API routes have no trailing slash
    "/api/v1/nope",
    "/api/v1/",
    "/api/v1",
    "/api/",
    "/api",
]


@pytest.mark.parametrize("path", NOT_FOUND)
def test_a_path_no_api_route_answers_is_a_json_404(debug: bool, path: str) -> None:
    acme = buyer()
    assert_json_error(acme.api("owner").get(path), 404, "not_found")
    assert_json_error(Client().get(path), 404, "not_found")


def test_a_post_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page(debug: bool) -> None:
    # A browser-like client that enforces CSRF, as production does
    client = Client(enforce_csrf_checks=True)
    assert_json_error(client.post("/api/v1/nope", data={}), 404, "not_found")
    assert_json_error(client.delete("/api/v1/products/not-a-uuid"), 404, "not_found")


def test_a_trailing_slash_says_how_to_write_the_path(debug: bool) -> None:
    body = assert_json_error(buyer().api("owner").get("/api/v1/orders/"), 404, "not_found")
    assert "no trailing slash" in body["detail"]
    assert "/api/v1/orders." in body["detail"]


def test_an_unknown_path_does_not_pretend_a_trailing_slash_would_help(debug: bool) -> None:
    body = assert_json_error(buyer().api("owner").get("/api/v1/nope/"), 404, "not_found")
    assert "trailing slash" not in body["detail"]


def test_the_schema_and_docs_without_their_slash_still_lead_to_them(debug: bool) -> None:
    for path in ("/api/schema", "/api/docs"):
        response = Client().get(path)
        assert response.status_code == 301
        assert response["Location"] == f"{path}/"


def test_the_portal_keeps_its_html_404_page() -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def allowed(response: Any) -> set[str]:
    return {method.strip() for method in response["Allow"].split(",")}


def request(api: Api, method: str, path: str) -> Any:
    return getattr(api.client, method.lower())(path)


@pytest.mark.parametrize(
    ("method", "path", "expected_allow"),
    [
        ("DELETE", ORDERS, {"GET", "POST"}),
        ("PUT", ORDERS, {"GET", "POST"}),
        ("PATCH", "/api/v1/invoices", {"GET"}),
        ("POST", "/api/v1/products", {"GET"}),
        ("DELETE", f"{ORDERS}/2026-0001", {"GET"}),
        ("GET", f"{ORDERS}/2026-0001/approve", {"POST"}),
    ],
)
@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_a_method_the_endpoint_does_not_have_is_a_405_with_allow(
    debug: bool, role: str, method: str, path: str, expected_allow: set[str]
) -> None:
    # Given a key of an owner (every scope) or of a viewer (read scopes only)
    acme = buyer()

    # When it asks an endpoint for a method the endpoint does not have
    response = request(acme.api(role), method, path)

    # Then the answer is 405 naming the methods there are, not a 403 about scopes
    body = assert_json_error(response, 405, "method_not_allowed")
    assert method in body["detail"]
    assert expected_allow <= allowed(response)
    assert method not in allowed(response)


def test_a_key_without_the_scope_still_gets_405_for_a_missing_method() -> None:
    acme = buyer()
    key = key_for(acme.company, acme.people["owner"], scopes=[ApiKey.Scope.INVOICES_READ])
    response = Api(key).client.delete(ORDERS)
    assert_json_error(response, 405, "method_not_allowed")


def test_a_method_the_endpoint_has_is_still_refused_without_the_scope() -> None:
    acme = buyer()
    response = acme.api("viewer").post(ORDERS, {}, idempotency_key="k-1")
    assert_json_error(response, 403, "permission_denied")


def test_without_a_key_the_answer_is_still_401() -> None:
    assert_json_error(Api(None).client.delete(ORDERS), 401, "not_authenticated")
