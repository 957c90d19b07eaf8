"""The operators' admin site: password plus TOTP code, in one step; its index is the operator
console (``console``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, path
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class StaffAuthenticationForm(OTPAdminAuthenticationForm):
    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()

    def _chosen_device(self, user: Any) -> Any:
        # django-otp asks the user to pick a device after a first failed attempt; staff have
        # one authenticator, so use it straight away.
        device = super()._chosen_device(user)
        if device is None:
            device = (
                TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
            )
        return device


class PortalAdminSite(OTPAdminSite):
    login_form = StaffAuthenticationForm

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The operator console (work queues, panels, key figures) above the app list."""
        from console.views import console_context

        return super().index(request, {**console_context(request), **(extra_context or {})})

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from console.views import figure_export_view

        return [
            path(
                "console/figures/<slug:key>.<slug:fmt>",
                self.admin_view(figure_export_view),
                name="console_figure_export",
            ),
            *super().get_urls(),
        ]
