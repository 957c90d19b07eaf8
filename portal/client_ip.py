"""The client's address, the one way every part of the portal finds it: the audit trail, the
sign-in lockout (django-axes, through ``AXES_CLIENT_IP_CALLABLE``) and the rate limit of the
recipients' link page.

Not behind a proxy (``TRUSTED_PROXY_COUNT = 0``), the client is the peer, ``REMOTE_ADDR``, and any
``X-Forwarded-For`` the client sends is ignored: anyone can write it. Behind N trusted proxies,
each proxy appends the address it received the request from to the header, so the client is the
N-th entry from the right; entries further left were written by the client and are never used.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core import checks
from django.http import HttpRequest


def _address(value: str) -> str | None:
    """An IP address written alone, with a port ("203.0.113.7:5123") or in brackets ("[::1]")."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    peer = request.META.get("REMOTE_ADDR") or None
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return peer
    forwarded = request.META.get(_meta_key(settings.TRUSTED_PROXY_HEADER), "")
    hops = [hop for hop in (part.strip() for part in forwarded.split(",")) if hop]
    if not hops:
        # Not through the proxies (a health check from the internal network): the peer it is.
        return peer
    # Fewer entries than proxies: the first proxy on the way wrote the leftmost one.
    return _address(hops[-min(proxies, len(hops))]) or peer


@checks.register(checks.Tags.security, deploy=True)
def proxy_count_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and settings.TRUSTED_PROXY_COUNT <= 0:
        return [
            checks.Warning(
                "BEHIND_TLS_PROXY is on but TRUSTED_PROXY_COUNT is 0: every client would have "
                "the proxy's address in the sign-in lockout, the link rate limit and the audit "
                "trail.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies in front of the portal.",
                id="portal.W001",
            )
        ]
    return []
