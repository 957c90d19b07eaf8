"""Single sign-on pages: the owner's settings, and the sign-in through the provider (start,
callback, and the sign-in again when an SSO session has run its time)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from portal.access import active_membership, policy_required
from portal.policy import Action
from portal.services.audit import client_ip
from sso import services
from sso.access import (
    FLOW_SESSION_KEY,
    REAUTH_SESSION_KEY,
    signed_in_with_sso,
    sso_session_begin,
)
from sso.forms import SsoConfigForm, SsoEmailForm
from sso.models import SsoConfig


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("sso:callback"))


def _safe_next(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _go_to_provider(
    request: HttpRequest, config: SsoConfig, *, email: str, next_url: str
) -> HttpResponse:
    url, flow = services.sso_signin_start(
        config=config, redirect_uri=_callback_url(request), login_hint=email, next_url=next_url
    )
    request.session[FLOW_SESSION_KEY] = flow.as_session()
    return redirect(url)


@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    """The address's domain leads to its company's provider."""
    form = SsoEmailForm(request.POST or None)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next") or "")
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        config = services.config_for_email(email)
        if config is None:
            form.add_error(
                "email",
                _(
                    "No company uses single sign-on for addresses at %(domain)s. Sign in with "
                    "your password."
                )
                % {"domain": email.rpartition("@")[2]},
            )
        else:
            try:
                return _go_to_provider(request, config, email=email, next_url=next_url)
            except ValidationError as exc:
                form.add_error(None, exc)
    return render(request, "sso/sign_in.html", {"form": form, "next": next_url})


@never_cache
def sign_in_again(request: HttpRequest) -> HttpResponse:
    """An SSO session ran its time: back through the same provider, straight away."""
    data = request.session.pop(REAUTH_SESSION_KEY, None)
    config = (
        SsoConfig.objects.select_related("company")
        .filter(public_id=str(data.get("config")), enabled=True)
        .first()
        if isinstance(data, dict)
        else None
    )
    if config is None or not isinstance(data, dict):
        return redirect("portal:login")
    try:
        return _go_to_provider(
            request,
            config,
            email=str(data.get("email") or ""),
            next_url=_safe_next(request, str(data.get("next") or "")),
        )
    except ValidationError as exc:
        return render(request, "sso/refused.html", {"reasons": exc.messages}, status=502)


@never_cache
@sensitive_variables()
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer. The flow is used once: a replayed answer finds none."""
    flow = services.SignInFlow.from_session(request.session.pop(FLOW_SESSION_KEY, None))
    try:
        result = services.sso_signin_complete(
            flow=flow,
            params={key: request.GET.get(key, "") for key in ("state", "code", "error")},
            redirect_uri=_callback_url(request),
            ip=client_ip(request),
        )
    except ValidationError as exc:
        return render(request, "sso/refused.html", {"reasons": exc.messages}, status=403)
    assert flow is not None
    # A new session key, as for any sign-in: a fixated session id is worth nothing.
    login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")
    sso_session_begin(request, config=result.config, mfa_from_provider=result.mfa_from_provider)
    # When the company needs a second factor the provider did not give, the portal's own
    # TOTP step follows (portal.access.TwoFactorRequiredMiddleware) before anything else.
    return redirect(_safe_next(request, flow.next_url))


@policy_required(Action.SSO_MANAGE)
@sensitive_post_parameters("client_secret")
@never_cache
def settings_page(request: HttpRequest) -> HttpResponse:
    company = active_membership(request).company
    config = SsoConfig.objects.filter(company=company).prefetch_related("domains").first()
    initial = {}
    if config is not None:
        initial = {
            "issuer": config.issuer,
            "client_id": config.client_id,
            "domains": "\n".join(d.domain for d in config.domains.all()),
            "enabled": config.enabled,
            "required": config.required,
            "mfa_satisfies_2fa": config.mfa_satisfies_2fa,
            "mfa_acr_values": config.mfa_acr_values,
            "session_minutes": config.session_minutes,
        }
    form = SsoConfigForm(request.POST or None, initial=initial, has_secret=config is not None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.sso_config_save(
                company=company,
                data=services.SsoConfigInput(
                    issuer=data["issuer"],
                    client_id=data["client_id"].strip(),
                    client_secret=data["client_secret"],
                    domains=data["domains"],
                    enabled=data["enabled"],
                    required=data["required"],
                    mfa_satisfies_2fa=data["mfa_satisfies_2fa"],
                    mfa_acr_values=data["mfa_acr_values"],
                    session_minutes=data["session_minutes"],
                ),
                actor=request.user,  # type: ignore[arg-type]
                actor_signed_in_with_sso=signed_in_with_sso(request, company),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Single sign-on settings saved."))
            return redirect("sso:settings")
    return render(
        request,
        "sso/settings.html",
        {"form": form, "config": config, "callback_url": _callback_url(request)},
    )


@policy_required(Action.SSO_MANAGE)
@require_POST
def settings_remove(request: HttpRequest) -> HttpResponse:
    services.sso_config_remove(
        company=active_membership(request).company,
        actor=request.user,  # type: ignore[arg-type]
        ip=client_ip(request),
    )
    messages.success(request, _("Single sign-on removed: members sign in with their passwords."))
    return redirect("sso:settings")
