"""One HTTP POST to a webhook endpoint, safe against server-side request forgery.

At send time the host is resolved, and the delivery is refused unless every address it resolves
to is public: not loopback, private, link-local, multicast, reserved, unspecified, shared
(100.64/10) or an IPv4 address mapped into IPv6 that is one of those. The connection then goes to
the checked address itself (so a second resolution cannot return another one), with the Host
header and TLS SNI (and certificate check) of the URL's host name. Only HTTPS, except when
``WEBHOOKS_ALLOW_PRIVATE_TARGETS`` is on (the test settings only: the suite's local receiver).
Redirects are not followed; the whole attempt is bounded by ``WEBHOOKS_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

RESPONSE_KEEP_CHARS = 1000
RESPONSE_READ_BYTES = 64 * 1024
USER_AGENT = "ecard-portal-webhooks/1"


class TargetRefused(Exception):
    """The URL may not be delivered to (its scheme, or an address that is not public)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: str  # the first RESPONSE_KEEP_CHARS characters


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_check(url: str) -> None:
    """The checks that need no DNS: the scheme, and a host that is an address literal. Used when
    an endpoint is registered; the full check is at send time."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise TargetRefused(_("The URL must start with https://."))
    if not parts.hostname:
        raise TargetRefused(_("The URL has no host name."))
    if parts.username or parts.password:
        raise TargetRefused(_("The URL may not carry a user name or password."))
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        if parts.hostname.lower() in {"localhost", "localhost.localdomain"} and not allow_private:
            raise TargetRefused(_("The URL must be a public address.")) from None
        return
    if not allow_private and not address_is_public(parts.hostname):
        raise TargetRefused(_("The URL must be a public address."))


def resolve_public(host: str, port: int) -> str:
    """The address to connect to: every address ``host`` resolves to must be public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"DNS: {exc.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError("DNS: no address")
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            if not address_is_public(address):
                raise TargetRefused(
                    _("%(host)s resolves to %(address)s, which is not a public address.")
                    % {"host": host, "address": address}
                )
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to ``address`` while speaking TLS (SNI, certificate) and HTTP for ``host``."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Response:
    """POST ``body``; raises TargetRefused, TimeoutError or OSError (network)."""
    url_check(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    address = resolve_public(host, port)
    connection_class = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    connection = connection_class(host, port, address=address, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        response = connection.getresponse()
        chunks: list[bytes] = []
        read = 0
        while read < RESPONSE_READ_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError("the response took too long")
            chunk = response.read1(RESPONSE_READ_BYTES - read)
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError("the response took too long")
        text = b"".join(chunks).decode("utf-8", errors="replace")[:RESPONSE_KEEP_CHARS]
        return Response(status=response.status, body=text)
    except TimeoutError as exc:
        raise TimeoutError(str(exc) or "timed out") from None
    finally:
        connection.close()
