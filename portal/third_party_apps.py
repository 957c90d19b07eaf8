"""django-axes and django-otp's TOTP app under names the operators read in their language (their
own app configs have none); listed in ``INSTALLED_APPS`` in place of the packages' own."""

from __future__ import annotations

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPAppConfig


class AxesConfig(AxesAppConfig):
    verbose_name = _("Sign-in lockouts")


class TOTPConfig(TOTPAppConfig):
    verbose_name = _("Authenticator apps")
