"""The merchant API as gunicorn serves it (``portal.wsgi.application``): answered by a handler
with the middleware a key-authenticated JSON API needs and no more, with the same answers,
headers and languages; every other path still goes through the whole stack."""

from __future__ import annotations

import io
import json
import sys
from http import HTTPStatus
from typing import Any

import pytest
from django.core.signals import request_started
from django.db import close_old_connections

from portal.wsgi import MERCHANT_API_MIDDLEWARE, application
from tests.cards.spend.helpers import BALANCE, issued_card, merchant_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _call(
    path: str, *, method: str = "POST", body: Any = None, **headers: str
) -> tuple[int, dict[str, list[str]], bytes]:
    data = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.7",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }
    started: list[Any] = []
    # As the test client does: the test's transaction holds the connection, which the request's
    # start would otherwise close.
    request_started.disconnect(close_old_connections)
    try:
        content = b"".join(
            application(environ, lambda status, head, *a: started.append((status, head)))
        )
    finally:
        request_started.connect(close_old_connections)
    status, head = started[0]
    found: dict[str, list[str]] = {}
    for name, value in head:
        found.setdefault(name.lower(), []).append(value)
    return int(status.split()[0]), found, content


def test_a_balance_check_through_the_wsgi_application_answers_with_the_api_headers() -> None:
    issued = issued_card("100")
    _key, plaintext = merchant_key()
    status, headers, content = _call(
        BALANCE, body={"code": issued.code}, authorization=f"Bearer {plaintext}"
    )
    assert status == HTTPStatus.OK
    assert json.loads(content)["balance"] == "100.00"
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["x-frame-options"] == ["DENY"]
    assert "referrer-policy" in headers
    assert headers["content-language"] == ["en"]
    # No session, CSRF or sign-in machinery: nothing set, nothing varies on a cookie.
    assert "set-cookie" not in headers
    assert "Cookie" not in ",".join(headers.get("vary", []))


def test_the_merchant_api_answers_in_the_language_asked_through_the_wsgi_application() -> None:
    _key, plaintext = merchant_key()
    status, headers, content = _call(
        BALANCE,
        body={"code": "ABCDE-FGHJK-LMNPQ-RSTUV"},
        authorization=f"Bearer {plaintext}",
        accept_language="zh-CN",
    )
    assert status == HTTPStatus.NOT_FOUND
    assert headers["content-language"] == ["zh-hans"]
    assert json.loads(content)["code"] == "card_unavailable"
    assert "卡" in json.loads(content)["detail"]


def test_a_request_without_a_key_is_refused_through_the_wsgi_application() -> None:
    status, headers, content = _call(BALANCE, body={"code": "ABCDE"})
    assert status == HTTPStatus.UNAUTHORIZED
    assert json.loads(content)["code"] == "not_authenticated"
    assert headers["www-authenticate"] == ['Bearer realm="merchant-api"']
    assert "set-cookie" not in headers


def test_portal_pages_still_go_through_the_whole_stack() -> None:
    status, headers, _content = _call("/login/", method="GET")
    assert status == HTTPStatus.OK
    # The CSRF and session middleware (absent from the merchant API's handler) ran.
    assert any(cookie.startswith("csrftoken=") for cookie in headers["set-cookie"])
    assert "django.middleware.csrf.CsrfViewMiddleware" not in MERCHANT_API_MIDDLEWARE
