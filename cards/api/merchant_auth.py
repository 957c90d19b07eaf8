"""How the merchant API knows its caller: merchant API keys only (``Authorization: Bearer
ecm_...``), scopes per endpoint, and the request limits.

A buyer's key is a 401 here, as a merchant's key is on the buyer API: each authentication class
takes only its own kind. A frozen key, a key of a suspended merchant and a revoked key are 401s
that say which (a frozen key waits for an operator).
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    MethodNotAllowed,
    NotAuthenticated,
    Throttled,
)
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from cards.models import MerchantApiKey, MerchantStatus
from cards.services.spend import throttle
from cards.services.spend.keys import merchant_key_authenticate
from portal.client_ip import client_ip


class MerchantKeyFrozen(AuthenticationFailed):
    default_code = "merchant_key_frozen"
    default_detail = gettext_lazy(
        "This API key is frozen after too many failed card look-ups, or a look-up of a card "
        "that was never sold. Ask the card issuer's operators to check and unfreeze it."
    )


class MerchantSuspended(AuthenticationFailed):
    default_code = "merchant_suspended"
    default_detail = gettext_lazy(
        "This merchant is suspended: its keys do not work until the card issuer reinstates it."
    )


class MerchantThrottled(Throttled):
    """429 with ``Retry-After`` (DRF's handler adds the header from ``wait``)."""

    def __init__(self, wait: float | None = None) -> None:
        seconds = max(1, math.ceil(wait or 1))
        detail = ngettext(
            "Too many requests, or too many codes that found no card: try again in "
            "%(seconds)s second.",
            "Too many requests, or too many codes that found no card: try again in "
            "%(seconds)s seconds.",
            seconds,
        ) % {"seconds": seconds}
        APIException.__init__(self, detail, "throttled")
        self.wait = seconds


class MerchantKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[None, MerchantApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not value.strip():
            raise AuthenticationFailed(
                _("Send the merchant API key as “Authorization: Bearer <key>”.")
            )
        key = merchant_key_authenticate(value.strip())
        if key is None:
            raise AuthenticationFailed(
                _(
                    "This is not a valid merchant API key: it is mistyped or revoked, or it is "
                    "a buyer's key (the merchant API takes merchant keys only)."
                )
            )
        if key.frozen_at is not None:
            raise MerchantKeyFrozen()
        if key.merchant.status != MerchantStatus.ACTIVE:
            raise MerchantSuspended()
        return None, key

    def authenticate_header(self, request: Request) -> str:
        # A header here makes DRF answer 401 (not 403) to requests without a valid key.
        return f'{self.keyword} realm="merchant-api"'


def request_merchant_key(request: Request) -> MerchantApiKey:
    key = request.auth
    if not isinstance(key, MerchantApiKey):
        raise NotAuthenticated()
    return key


class HasMerchantScope(BasePermission):
    """The key has the view's ``merchant_scope``. A method the endpoint does not have is a 405,
    asked first (as on the buyer API)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, MerchantApiKey):
            return False
        if request.method not in view.allowed_methods:
            raise MethodNotAllowed(str(request.method))
        scope = getattr(view, "merchant_scope", "")
        if scope and scope in key.scopes:
            return True
        labels = dict(MerchantApiKey.Scope.choices)
        self.message = _(
            "This API key lacks the “%(scope)s” scope (%(label)s). Ask the card issuer for a key "
            "with it."
        ) % {"scope": scope, "label": labels.get(scope, scope)}
        return False


class MerchantRequestThrottle(BaseThrottle):
    """Requests per key, merchant and address (``MERCHANT_RATE_*``)."""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, MerchantApiKey):
            return True
        try:
            standing = throttle.request_admit(key=key, ip=client_ip(request))
        except throttle.LimitReached as limit:
            self.retry_after = limit.retry_after
            request.rate_standing = limit.standing  # type: ignore[attr-defined]
            return False
        request.rate_standing = standing  # type: ignore[attr-defined]
        return True

    def wait(self) -> float | None:
        return self.retry_after


def rate_limit_headers(request: Request) -> dict[str, str]:
    """The RateLimit-* headers of the buyer API (portal/api/rate_limits.py), for the tightest of
    the limits this request was counted against; none when it was not counted (no valid key)."""
    standing: throttle.Standing | None = getattr(request, "rate_standing", None)
    if standing is None:
        return {}
    return {
        "RateLimit-Limit": str(standing.limit),
        "RateLimit-Remaining": str(standing.remaining),
        "RateLimit-Reset": str(standing.reset),
        "RateLimit-Policy": f"{standing.limit};w={standing.window_seconds}",
    }


class MerchantKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "cards.api.merchant_auth.MerchantKeyAuthentication"
    name = "MerchantKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ecm_<prefix>_<secret>",
            "description": str(
                _(
                    "A merchant API key, issued by the card issuer's operators, with the scopes "
                    "balance, redeem and refund as the merchant needs. Send it as "
                    "“Authorization: Bearer <key>”. The merchant endpoints take no buyer keys."
                )
            ),
        }
