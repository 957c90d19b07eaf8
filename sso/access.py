"""The session rules of single sign-on.

- A session signed in through a company's provider acts for that company only: another
  company's provider never opens a door to a company it does not serve.
- A session signed in with a password never acts for a company whose single sign-on is
  required; a person all of whose companies require it cannot sign in with a password at all.
- An SSO session is bounded: after the configuration's ``session_minutes`` (or as soon as the
  configuration is disabled or removed) it ends, and the person goes back through the provider,
  which refuses someone it has disabled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from portal.access import ACTIVE_COMPANY_SESSION_KEY, EXTERNAL_MFA_SESSION_KEY
from portal.models import Company, Membership, User
from sso.models import SsoConfig

SSO_SESSION_KEY = "sso_session"
FLOW_SESSION_KEY = "sso_flow"
REAUTH_SESSION_KEY = "sso_again"


def sso_required(company: Company) -> bool:
    """Whether the company's members must sign in through its provider (read from the
    ``sso_config`` the caller selected with the company, so no query per membership)."""
    try:
        config = company.sso_config
    except SsoConfig.DoesNotExist:
        return False
    return bool(config.enabled and config.required)


def session_memberships(request: HttpRequest, memberships: list[Membership]) -> list[Membership]:
    """The memberships this session may act for (``portal.access`` asks, for every request)."""
    data = request.session.get(SSO_SESSION_KEY)
    if isinstance(data, dict):
        return [m for m in memberships if str(m.company.public_id) == data.get("company")]
    return [m for m in memberships if not sso_required(m.company)]


def signed_in_with_sso(request: HttpRequest, company: Company) -> bool:
    """Whether this session was signed in through the company's own provider."""
    data = request.session.get(SSO_SESSION_KEY)
    return isinstance(data, dict) and data.get("company") == str(company.public_id)


def password_refusal(user: User) -> str | None:
    """Why this person may not sign in with a password, or None when they may."""
    memberships: Iterable[Membership] = Membership.objects.filter(user=user).select_related(
        "company__sso_config"
    )
    companies = [m.company for m in memberships]
    if companies and all(sso_required(company) for company in companies):
        return _(
            "Your company asks you to sign in through its identity provider: use “Sign in with "
            "your company's SSO” below."
        )
    return None


def sso_session_begin(request: HttpRequest, *, config: SsoConfig, mfa_from_provider: bool) -> None:
    """Mark the freshly signed-in session as this configuration's."""
    request.session[SSO_SESSION_KEY] = {
        "config": str(config.public_id),
        "company": str(config.company.public_id),
        "at": time.time(),
    }
    request.session[ACTIVE_COMPANY_SESSION_KEY] = str(config.company.public_id)
    if mfa_from_provider:
        request.session[EXTERNAL_MFA_SESSION_KEY] = True


def _expired(data: dict[str, Any]) -> tuple[bool, SsoConfig | None]:
    config = SsoConfig.objects.filter(public_id=str(data.get("config")), enabled=True).first()
    if config is None:
        return True, None
    try:
        started = float(data.get("at", 0))
    except (TypeError, ValueError):
        started = 0.0
    return time.time() - started > config.session_minutes * 60, config


class SsoSessionMiddleware:
    """Ends an SSO session past its configuration's time and sends the person back through the
    provider. Goes after django-otp's middleware, before ``ActiveCompanyMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        data = request.session.get(SSO_SESSION_KEY)
        if not isinstance(data, dict) or not request.user.is_authenticated:
            return self.get_response(request)
        expired, config = _expired(data)
        if not expired:
            return self.get_response(request)
        going_out = request.path == reverse("portal:logout")
        next_url = request.get_full_path() if request.method == "GET" else "/"
        email = request.user.email
        logout(request)
        if going_out:
            return redirect("portal:login")
        if config is None:
            return redirect_to_login(next_url)
        request.session[REAUTH_SESSION_KEY] = {
            "config": str(config.public_id),
            "next": next_url,
            "email": email,
        }
        return redirect("sso:again")
