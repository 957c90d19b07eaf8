"""Rate limits of the buyer API (/api/v1/, not the merchant API, which has its own:
``cards/services/spend/throttle.py``): requests per API key and per route class, per fixed
window (``API_RATE_LIMITS``, ``API_RATE_LIMIT_WINDOW_SECONDS`` in portal/settings/api.py),
counted in Redis (``portal.rate_limits``).

Every answer of the buyer API, a refusal included, says where its caller stands, in the form of
the IETF draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers-07):

    RateLimit-Limit: 600          requests allowed in the window, for this route class
    RateLimit-Remaining: 599      left in the current window
    RateLimit-Reset: 42           seconds until the window ends
    RateLimit-Policy: 600;w=60    the quota and its window in seconds

Past the limit the answer is a 429 in the API's error shape (code ``throttled``, translated) with
``Retry-After`` (the same seconds as ``RateLimit-Reset``); the request is not handled.

A middleware, not a DRF throttle: DRF throttles after authentication and permissions, so a 401,
403 or 405 would carry no headers and cost nothing to repeat. The caller is known without a
database query: a request with a key is counted under a keyed digest of that key (never the key
itself, nor its shown prefix, which anyone could borrow to use up someone else's budget), one
without under its client address.

When the cache cannot be reached, requests are answered without limits or headers (and a warning
is logged): the limits protect the service, they are not a reason to refuse it.

Route classes: a view names the class of each of its DRF actions in ``rate_limit_classes``
(``{"create": "upload"}``); any other request is ``read`` (GET, HEAD, OPTIONS) or ``write``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.translation import ngettext

from portal.api.exceptions import error_body
from portal.client_ip import client_ip
from portal.rate_limits import RateCount, RateLimit, rate_limit_count

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
MERCHANT_PREFIX = "/api/v1/merchant/"
READ = "read"
WRITE = "write"
UPLOAD = "upload"
CODES = "codes"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def route_class(view_func: Any, method: str) -> str:
    """The route class of a request to this view: what the view names for its action, else
    read or write by the method."""
    view_class = getattr(view_func, "cls", None)
    actions = getattr(view_func, "actions", None) or {}
    action = actions.get(method.lower(), "")
    named = getattr(view_class, "rate_limit_classes", {}) if view_class else {}
    if action in named:
        return str(named[action])
    return READ if method in SAFE_METHODS else WRITE


def caller(request: HttpRequest) -> str:
    """Who is counted: a digest of the request's API key, else its client address."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    raw = header.partition(" ")[2].strip() if header else ""
    raw = raw or request.META.get("HTTP_X_API_KEY", "").strip()
    if raw:
        digest = hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256)
        return "key:" + digest.hexdigest()[:32]
    return "ip:" + (client_ip(request) or "unknown")


def rate_for(kind: str) -> RateLimit:
    limits: dict[str, int] = settings.API_RATE_LIMITS
    limit = limits.get(kind, limits[WRITE])
    return RateLimit(
        name=f"{settings.API_RATE_LIMIT_NAMESPACE}:{kind}",
        limit=int(limit),
        window_seconds=int(settings.API_RATE_LIMIT_WINDOW_SECONDS),
    )


def rate_headers(counted: RateCount, window_seconds: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(counted.limit),
        "RateLimit-Remaining": str(counted.remaining),
        "RateLimit-Reset": str(counted.reset),
        "RateLimit-Policy": f"{counted.limit};w={window_seconds}",
    }


def throttled_response(seconds: int) -> JsonResponse:
    detail = ngettext(
        "Too many requests of this kind from this API key: try again in %(seconds)s second.",
        "Too many requests of this kind from this API key: try again in %(seconds)s seconds.",
        seconds,
    ) % {"seconds": seconds}
    response = JsonResponse(error_body(detail, "throttled"), status=429)
    response["Retry-After"] = str(seconds)
    return response


class ApiRateLimitMiddleware:
    """Counts each buyer API request once its view is known (``process_view``), answers 429 past
    the limit, and writes the headers on every answer of the buyer API."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        headers: dict[str, str] | None = getattr(request, "rate_limit_headers", None)
        if headers:
            for name, value in headers.items():
                response[name] = value
        return response

    def process_view(
        self, request: HttpRequest, view_func: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        path = request.path_info
        if not path.startswith(API_PREFIX) or path.startswith(MERCHANT_PREFIX):
            return None
        rate = rate_for(route_class(view_func, request.method or "GET"))
        try:
            counted = rate_limit_count(rate, caller(request))
        except Exception as exc:  # noqa: BLE001 - the cache is away: answer, unlimited, and say so
            logger.warning("API rate limits not counted: %s", type(exc).__name__)
            return None
        request.rate_limit_headers = rate_headers(  # type: ignore[attr-defined]
            counted, rate.window_seconds
        )
        if counted.exceeded:
            return throttled_response(counted.reset)
        return None
