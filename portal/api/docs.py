"""The OpenAPI schema and the Swagger UI page (drf-spectacular-sidecar, no CDN), for the portal's
members (signed in) and API keys only: the schema maps every endpoint and field.

The page runs under the site's strict CSP, unchanged: the split view serves the start-up script
from its own URL (``?script``), and the template (templates/portal/api_docs.html) takes the few
page styles from a static file instead of an inline ``<style>`` block.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from portal.api.authentication import ApiKeyAuthentication
from portal.models import ApiKey, Membership


class PortalSessionAuthentication(SessionAuthentication):
    """The portal's sign-in, for the schema and its docs page only (they are read with GET): the
    API's endpoints take API keys only."""


class IsMemberOrApiKey(BasePermission):
    message = _("Sign in to the portal or send an API key to read the API's documentation.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        return bool(user.is_staff or Membership.objects.filter(user=user).exists())


_DOCS_ACCESS: dict[str, Any] = {
    # The key first: its challenge header makes an anonymous request a 401, not a 403.
    "authentication_classes": [ApiKeyAuthentication, PortalSessionAuthentication],
    "permission_classes": [IsMemberOrApiKey],
}


class ApiSchemaView(SpectacularAPIView):
    """The schema is in English whatever the request's language (``Accept-Language``, ``?lang=``):
    one contract for every client and code generator. Its errors follow the request's language,
    like every API answer."""

    authentication_classes = _DOCS_ACCESS["authentication_classes"]
    permission_classes = _DOCS_ACCESS["permission_classes"]

    def _get_schema_response(self, request: Request) -> Response:
        with translation.override("en"):
            response = super()._get_schema_response(request)
            # Lazy texts are rendered after the view returns, so they are made text here.
            response.data = json.loads(json.dumps(response.data, cls=JSONEncoder))
        return response


class ApiDocsView(SpectacularSwaggerSplitView):
    authentication_classes = _DOCS_ACCESS["authentication_classes"]
    permission_classes = _DOCS_ACCESS["permission_classes"]
    template_name = "portal/api_docs.html"

    # DRF's finalize_response passes any Django response through, a redirect included.
    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        # A person reading the docs in a browser is sent to sign in, then back here.
        sent_a_key = (
            "HTTP_AUTHORIZATION" in self.request.META or "HTTP_X_API_KEY" in self.request.META
        )
        if isinstance(exc, (NotAuthenticated, AuthenticationFailed)) and not sent_a_key:
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


def api_schema_view() -> Any:
    return ApiSchemaView.as_view()


def api_docs_view() -> Any:
    return ApiDocsView.as_view(url_name="api-schema")
