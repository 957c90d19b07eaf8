"""The client's address: the peer, or the entry the trusted proxies wrote for it."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from pytest_django.fixtures import Settings

from portal.client_ip import client_ip


def _request(forwarded: str | None, peer: str = "10.0.0.5") -> object:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=peer, headers=headers)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        # No proxy configured: the header is the client's own word and is ignored
        (0, "203.0.113.7", "10.0.0.5"),
        # One proxy: the entry it appended; what the client wrote before it is ignored
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (1, "203.0.113.7", "203.0.113.7"),
        # Two proxies: the outer one wrote the client, the inner one the outer proxy
        (2, "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        # Fewer entries than proxies: the first proxy's entry
        (2, "203.0.113.7", "203.0.113.7"),
        # Ports and brackets as some proxies write them
        (1, "203.0.113.7:51234", "203.0.113.7"),
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "2001:db8::7", "2001:db8::7"),
        # No header (a health check from inside), or garbage: the peer
        (1, None, "10.0.0.5"),
        (1, "unknown", "10.0.0.5"),
    ],
)
def test_client_address(
    settings: Settings, proxies: int, forwarded: str | None, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request(forwarded)) == expected  # type: ignore[arg-type]


def test_the_header_name_is_configurable(settings: Settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_HEADER = "X-Real-IP"
    headers = {"X-Real-IP": "203.0.113.7", "X-Forwarded-For": "192.0.2.1"}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", headers=headers)
    assert client_ip(request) == "203.0.113.7"
