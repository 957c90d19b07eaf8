"""API key authentication: ``Authorization: Bearer <key>`` (or ``X-Api-Key: <key>``).

``request.user`` is the key's holder (the member who created it, for whom it acts),
``request.auth`` the ApiKey (with ``holder_role``, the holder's role now), and the company is the
key's company: every API query is scoped to it (``portal.api.access``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.request import Request

from portal.models import ApiKey, Company, User
from portal.services.api_keys import api_key_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _sep, value = header.partition(" ")
            if scheme.lower() != self.keyword.lower():
                raise AuthenticationFailed(_("Send the API key as “Authorization: Bearer <key>”."))
            raw = value.strip()
        else:
            raw = request.META.get("HTTP_X_API_KEY", "").strip()
            if not raw:
                return None
        if not raw:
            raise AuthenticationFailed(_("Give the API key after “Bearer ”."))
        key = api_key_authenticate(raw)
        if key is None:
            raise AuthenticationFailed(
                _(
                    "This API key is not valid: it is mistyped or revoked, or the member it "
                    "belongs to or its company is no longer active."
                )
            )
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # A header here makes DRF answer 401 (not 403) to requests without a valid key.
        return f'{self.keyword} realm="api"'


def request_api_key(request: Request) -> ApiKey:
    key = request.auth
    if not isinstance(key, ApiKey):
        raise NotAuthenticated()
    return key


def request_company(request: Request) -> Company:
    """The company every API query of this request is scoped to."""
    return request_api_key(request).company
