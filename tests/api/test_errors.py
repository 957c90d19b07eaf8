"""Everything under /api/ answers JSON in the API's error shape, also when no API view answers
(an unknown path) or a view crashes (500); the portal keeps its HTML pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from cards.api import ProductViewSet
from tests.api.helpers import buyer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def assert_api_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["code"] == code
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no-such-thing",
        "/api/no-such-thing",
        "/api",
        "/api/v1/orders/not.a.number",
        "/api/v1/orders/2026-0001/no-such-action",
    ],
)
def test_an_unknown_api_path_is_a_json_404(path: str) -> None:
    acme = buyer()
    assert_api_error(acme.api("owner").get(path), 404, "not_found")
    assert_api_error(Client().get(path), 404, "not_found")
    assert_api_error(Client().post(path, data={}), 404, "not_found")


def test_a_trailing_slash_is_a_json_404_that_says_how_to_write_the_path() -> None:
    acme = buyer()
    body = assert_api_error(acme.api("owner").get("/api/v1/orders/"), 404, "not_found")
    assert "no trailing slash" in body["detail"]
    assert "/api/v1/orders." in body["detail"]


def test_a_crash_in_an_api_view_is_a_json_500(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an API view that fails with an error nobody handles
    def crash(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(ProductViewSet, "list", crash)
    acme = buyer()
    client = acme.api("purchaser").client
    client.raise_request_exception = False

    # When a client calls it
    response = client.get("/api/v1/products")

    # Then it gets the API's JSON error, not the portal's HTML page, and nothing of the error
    body = assert_api_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()
    assert "<html" not in response.content.decode().lower()
    assert body["errors"] == []


def test_the_portal_keeps_its_html_404_page() -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
