"""The one way into company data from the portal.

Every portal request acts for one active company, chosen among the user's memberships and kept in
the session. Views never filter by company themselves: they ask ``company_objects`` or
``get_company_object_or_404``, which scope the query to the active company, so another company's
object is a 404 (never a 403, which would confirm it exists).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import resolve
from django.utils.translation import gettext as _

from portal import policy
from portal.models import Company, Membership
from portal.policy import Action

ACTIVE_COMPANY_SESSION_KEY = "active_company"
# When this session last passed a code check for a sensitive act (revealing codes, creating a
# key that can export codes or approve orders); it counts for CODE_REVEAL_2FA_MINUTES.
FRESH_2FA_SESSION_KEY = "codes_2fa_at"
# Set by a single sign-on whose identity provider checked a second factor that the company's
# owner lets count as ours (``sso.access``): the session has passed its second factor.
EXTERNAL_MFA_SESSION_KEY = "external_mfa"

View = Callable[..., HttpResponse]


def _resolve_membership(request: HttpRequest) -> Membership | None:
    from sso.access import session_memberships

    user = request.user
    if not user.is_authenticated:
        return None
    # Single sign-on decides which of them this session may act for (``sso.access``).
    memberships = session_memberships(
        request,
        list(
            Membership.objects.filter(user=user)
            .select_related("company", "company__sso_config")
            .order_by("created_at")
        ),
    )
    request.all_memberships = memberships  # type: ignore[attr-defined]
    if not memberships:
        return None
    wanted = request.session.get(ACTIVE_COMPANY_SESSION_KEY)
    for membership in memberships:
        if str(membership.company.public_id) == wanted:
            return membership
    # No choice yet, or the chosen company is no longer one of the user's: take the first.
    request.session[ACTIVE_COMPANY_SESSION_KEY] = str(memberships[0].company.public_id)
    return memberships[0]


class ActiveCompanyMiddleware:
    """Sets ``request.membership`` (the active membership, or None) for signed-in users."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.all_memberships = []  # type: ignore[attr-defined]
        request.membership = _resolve_membership(request)  # type: ignore[attr-defined]
        return self.get_response(request)


# Pages a signed-in user who still owes a second factor may see.
_TWO_FACTOR_EXEMPT = frozenset(
    {
        "portal:two_factor_verify",
        "portal:two_factor_setup",
        "portal:logout",
        "portal:healthz",
        "set_language",
        "javascript-catalog",
        # A card recipient's one-time link needs no account at all.
        "cards:recipient_link",
        "cards:recipient_card",
        "cards:recipient_balance",
    }
)


class TwoFactorRequiredMiddleware:
    """A user with a TOTP device, a staff member, or a holder of a role that needs a second
    factor sees nothing of the portal until this session has passed one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from portal.services.auth import confirmed_totp_device, user_needs_two_factor

        user = request.user
        if not user.is_authenticated or session_is_verified(request):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Http404:
            return self.get_response(request)
        if match.view_name in _TWO_FACTOR_EXEMPT or match.app_name == "admin":
            # The admin has its own sign-in form with the code field (django-otp's admin site).
            return self.get_response(request)
        if confirmed_totp_device(user) is not None:
            return redirect_to_login(request.get_full_path(), "portal:two_factor_verify")
        if user_needs_two_factor(user):
            return redirect_to_login(request.get_full_path(), "portal:two_factor_setup")
        return self.get_response(request)


def session_is_verified(request: HttpRequest) -> bool:
    """Whether this session passed a second factor: ours (django-otp's OTPMiddleware sets it),
    or the identity provider's when the company lets it count (``EXTERNAL_MFA_SESSION_KEY``)."""
    return otp_verified(request) or request.session.get(EXTERNAL_MFA_SESSION_KEY) is True


def otp_verified(request: HttpRequest) -> bool:
    """Whether this session passed our own TOTP check."""
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified and is_verified())


def fresh_2fa_at(request: HttpRequest) -> float | None:
    at = request.session.get(FRESH_2FA_SESSION_KEY)
    return float(at) if isinstance(at, (int, float)) else None


def fresh_2fa_passed(request: HttpRequest) -> bool:
    """Whether this session passed a code check for a sensitive act within the last minutes."""
    from portal.services.api_keys import second_factor_is_fresh

    return second_factor_is_fresh(fresh_2fa_at(request))


def fresh_2fa_record(request: HttpRequest) -> None:
    request.session[FRESH_2FA_SESSION_KEY] = time.time()


def active_membership(request: HttpRequest) -> Membership:
    membership: Membership | None = getattr(request, "membership", None)
    if membership is None:
        raise Http404(_("You are not a member of any company."))
    return membership


def active_company(request: HttpRequest) -> Company:
    return active_membership(request).company


def company_objects[M: models.Model](
    request: HttpRequest, model_or_queryset: type[M] | models.QuerySet[M]
) -> models.QuerySet[M]:
    """The model's rows that belong to the active company."""
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, models.QuerySet)
        else model_or_queryset._default_manager.all()
    )
    return queryset.filter(company=active_company(request))


def get_company_object_or_404[M: models.Model](
    request: HttpRequest, model_or_queryset: type[M] | models.QuerySet[M], **lookup: Any
) -> M:
    try:
        obj: M = company_objects(request, model_or_queryset).get(**lookup)
    except (models.ObjectDoesNotExist, ValueError) as exc:
        raise Http404 from exc
    return obj


def member_company_or_404(request: HttpRequest, public_id: Any) -> Membership:
    """The signed-in user's membership in the company with this public id, or 404."""
    for membership in getattr(request, "all_memberships", []):
        if str(membership.company.public_id) == str(public_id):
            return membership
    raise Http404


def company_member_required(view: View) -> View:
    """Signed in, and acting for an active company."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(request, "membership", None) is None:
            return redirect("portal:no_company")
        return view(request, *args, **kwargs)

    return wrapper


def can(request: HttpRequest, action: Action) -> bool:
    """Whether the active membership may do ``action`` (``portal.policy``)."""
    return policy.can(getattr(request, "membership", None), action)


def require(request: HttpRequest, action: Action) -> Membership:
    """The active membership, if the policy lets it do ``action``; else a 403 saying why."""
    membership = active_membership(request)
    if not policy.can(membership, action):
        raise PermissionDenied(policy.refusal(action))
    return membership


def policy_required(action: Action) -> Callable[[View], View]:
    """Only members whose role may do ``action``; others get a 403 saying why."""

    def decorator(view: View) -> View:
        @wraps(view)
        @company_member_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require(request, action)
            return view(request, *args, **kwargs)

        wrapper.policy_action = action  # type: ignore[attr-defined]
        return wrapper

    return decorator


def company_context(request: HttpRequest) -> dict[str, Any]:
    memberships: Iterable[Membership] = getattr(request, "all_memberships", [])
    return {
        "active_membership": getattr(request, "membership", None),
        "all_memberships": memberships,
    }
