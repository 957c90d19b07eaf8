"""The audit actions of single sign-on."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from portal.models import register_audit_actions


class SsoAction(models.TextChoices):
    CONFIG_SAVED = "sso.config_saved", gettext_lazy("Changed the single sign-on settings")
    CONFIG_REMOVED = "sso.config_removed", gettext_lazy("Removed single sign-on")
    LOGIN = "sso.login", gettext_lazy("Signed in with single sign-on")
    LOGIN_REFUSED = "sso.login_refused", gettext_lazy("Refused a single sign-on")


register_audit_actions(SsoAction)
