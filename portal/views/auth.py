"""Sign-in, sign-out, password reset and the second factor."""

from __future__ import annotations

import base64
from io import BytesIO
from typing import Any

import qrcode
import qrcode.image.svg
from axes.utils import reset as axes_reset
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.access import otp_verified, session_is_verified
from portal.forms import LoginForm, TokenForm
from portal.models import AuditAction, User
from portal.services import auth as auth_services
from portal.services.audit import audit_record, client_ip


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "portal/auth/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        # Django's login() gives the session a new key: a fixated session id is worth nothing.
        response = super().form_valid(form)
        auth_services.auth_login_succeeded(user=form.get_user(), request=self.request)
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        email = str(form.data.get("username", ""))
        if email:
            auth_services.auth_login_failed(email=email, request=self.request)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            auth_services.auth_logout_recorded(user=request.user, request=request)
        return super().post(request, *args, **kwargs)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/auth/password_reset.html"
    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        email = form.cleaned_data["email"]
        user = User.objects.filter(email__iexact=email).first()
        audit_record(
            action=AuditAction.PASSWORD_RESET_REQUESTED,
            actor=user,
            actor_label=email,
            ip=client_ip(self.request),
        )
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/auth/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(
            action=AuditAction.PASSWORD_CHANGED, actor=form.user, ip=client_ip(self.request)
        )
        # The locked-out page sends people here: a new password ends the lockout by name.
        axes_reset(username=form.user.get_username())
        return response


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not otp_verified(request) and auth_services.confirmed_totp_device(user):
        # Replacing a device needs the old one first: a password alone must not swap it, nor
        # another provider's second factor (single sign-on).
        return redirect_to_login(request.get_full_path(), "portal:two_factor_verify")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if auth_services.totp_device_confirm(
            user=user, token=form.cleaned_data["token"], request=request
        ):
            messages.success(request, _("Two-factor authentication is on."))
            return redirect(_next_url(request))
        form.add_error("token", _("That code does not match. Wait for a new code and try again."))
    device = auth_services.pending_totp_device(user) or auth_services.totp_device_start(user=user)
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return render(
        request,
        "portal/auth/two_factor_setup.html",
        {
            "form": form,
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr": _qr_svg(device.config_url),
            "required": auth_services.user_needs_two_factor(user),
            "next": _next_url(request),
        },
    )


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if session_is_verified(request):
        return redirect(_next_url(request))
    device = auth_services.confirmed_totp_device(user)
    if device is None:
        return redirect("portal:two_factor_setup")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if auth_services.two_factor_verify(
            user=user, token=form.cleaned_data["token"], request=request
        ):
            return redirect(_next_url(request))
        allowed, details = device.verify_is_allowed()
        if not allowed and details and details.get("locked_until"):
            form.add_error(
                "token",
                _("Too many wrong codes. Wait until %(time)s, then try again.")
                % {"time": details["locked_until"].strftime("%H:%M:%S")},
            )
        else:
            form.add_error(
                "token",
                _("That code is wrong or was already used. Enter the current code from your app."),
            )
    return render(
        request, "portal/auth/two_factor_verify.html", {"form": form, "next": _next_url(request)}
    )


@login_required
def two_factor_settings(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return render(
        request,
        "portal/auth/two_factor_settings.html",
        {
            "device": auth_services.confirmed_totp_device(user),
            "required": auth_services.user_needs_two_factor(user),
        },
    )


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not otp_verified(request) and auth_services.confirmed_totp_device(user):
        # Removing the device needs the device's own code, as replacing it does: another
        # provider's second factor (single sign-on) does not stand in for it.
        return redirect_to_login(reverse("portal:two_factor_settings"), "portal:two_factor_verify")
    if auth_services.user_needs_two_factor(user):
        messages.error(
            request,
            _("Your role requires two-factor authentication, so it cannot be turned off."),
        )
    else:
        auth_services.totp_device_remove(user=user, request=request)
        messages.success(request, _("Two-factor authentication is off."))
    return redirect("portal:two_factor_settings")
