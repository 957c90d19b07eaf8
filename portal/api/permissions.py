"""Scopes: each API action names the scope its key must hold. An action that names none is
refused (fail closed). The services still check the acting member's role themselves."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.models import ApiKey

ANY_SCOPE = "*"


class HasApiKeyScope(BasePermission):
    """The view maps its actions to scopes in ``required_scopes``; ``ANY_SCOPE`` lets any valid
    key in."""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        required: dict[str, str] = getattr(view, "required_scopes", {})
        action = getattr(view, "action", None)
        scope = required.get(action or "")
        if scope is None:
            self.message = _("This endpoint is not open to API keys.")
            return False
        if scope == ANY_SCOPE or scope in key.scopes:
            return True
        self.message = _(
            "This API key lacks the “%(scope)s” scope. An owner can create a key with it under "
            "Settings → API keys."
        ) % {"scope": scope}
        return False
