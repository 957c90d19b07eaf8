"""What an API key may do: each API action names a policy action (``portal.policy.Action``) in
the view's ``policy_actions``; the key needs the scope that opens it *and* its holder's current
role must allow it, the same answer the portal gives that person. An action that names none is
refused (fail closed); ``ANY_KEY`` lets any valid key in (the catalog).

A method the endpoint does not have is a 405 (with DRF's Allow header), asked before the scopes:
DRF checks permissions before it looks for the method's handler, and a viewset's action for such
a method is None, which the policy would refuse with a misleading 403."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal import policy
from portal.models import ApiKey
from portal.policy import Action

ANY_KEY = "*"


def view_action(view: Any) -> Action | str | None:
    """The policy action the view's current DRF action needs (or ``ANY_KEY``, or None)."""
    actions: dict[str, Action | str] = getattr(view, "policy_actions", {})
    return actions.get(getattr(view, "action", None) or "")


def key_refusal(key: ApiKey, action: Action) -> str:
    """Why this key may not do ``action`` now ("" when it may)."""
    role = getattr(key, "holder_role", None)
    scope = policy.ACTION_SCOPE.get(action)
    if scope is None:
        return _("This endpoint is not open to API keys.")
    if not policy.can(role, action):
        return policy.refusal(action)
    if scope not in key.scopes:
        return _(
            "This API key lacks the “%(scope)s” scope. Create a key with it under "
            "Settings → API keys (your role allows it)."
        ) % {"scope": scope}
    return ""


class HasPolicyAction(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if request.method not in view.allowed_methods:
            raise MethodNotAllowed(str(request.method))
        action = view_action(view)
        if action == ANY_KEY:
            return True
        if action is None:
            self.message = _("This endpoint is not open to API keys.")
            return False
        refusal = key_refusal(key, Action(action))
        if refusal:
            self.message = refusal
            return False
        return True


# The name the settings' DEFAULT_PERMISSION_CLASSES use.
HasApiKeyScope = HasPolicyAction
