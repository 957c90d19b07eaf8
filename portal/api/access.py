"""The one way into company data from the API, like ``portal.access`` for the portal.

Every query of an API view goes through ``api_objects`` (or ``api_get_object_or_404``): scoped
to the key's company, so another company's object is a 404, and checked against the policy for
the key's scopes and its holder's current role, so the API never shows a person what the portal
refuses them. Views name the policy action of each DRF action in ``policy_actions``; the
permission class (``portal.api.permissions.HasPolicyAction``) refuses before the view runs, and
these helpers check again where the data is read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.http import Http404
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.views import APIView

from portal.api.authentication import request_api_key
from portal.api.permissions import ANY_KEY, HasPolicyAction, key_refusal, view_action
from portal.policy import Action


def api_require(request: Request, action: Action) -> None:
    """A 403 saying why, unless the request's key may do ``action`` now."""
    refusal = key_refusal(request_api_key(request), action)
    if refusal:
        raise PermissionDenied(refusal)


def api_objects[M: models.Model](
    request: Request, model_or_queryset: type[M] | models.QuerySet[M], action: Action
) -> models.QuerySet[M]:
    """The rows of the key's company, if the key may do ``action``."""
    api_require(request, action)
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, models.QuerySet)
        else model_or_queryset._default_manager.all()
    )
    return queryset.filter(company=request_api_key(request).company)


def api_get_object_or_404[M: models.Model](
    request: Request,
    model_or_queryset: type[M] | models.QuerySet[M],
    action: Action,
    **lookup: Any,
) -> M:
    try:
        obj: M = api_objects(request, model_or_queryset, action).get(**lookup)
    except (models.ObjectDoesNotExist, ValueError) as exc:
        raise Http404 from exc
    return obj


class ApiAccess(APIView):
    """For API views (put it before the viewset class): ``permission_classes`` asks the policy,
    and ``company_objects`` reads the key's company's rows for the current DRF action's policy
    action."""

    permission_classes = [HasPolicyAction]
    policy_actions: ClassVar[dict[str, Action | str]] = {}

    def policy_action(self) -> Action:
        action = view_action(self)
        if action is None or action == ANY_KEY:
            raise PermissionDenied()
        return Action(action)

    def company_objects[M: models.Model](
        self, model_or_queryset: type[M] | models.QuerySet[M]
    ) -> models.QuerySet[M]:
        return api_objects(self.request, model_or_queryset, self.policy_action())

    def company_object_or_404[M: models.Model](
        self, model_or_queryset: type[M] | models.QuerySet[M], **lookup: Any
    ) -> M:
        return api_get_object_or_404(
            self.request, model_or_queryset, self.policy_action(), **lookup
        )
