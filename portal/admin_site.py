"""The operators' admin site: password plus TOTP code, in one step."""

from __future__ import annotations

from typing import Any

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
