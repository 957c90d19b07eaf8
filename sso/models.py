"""A company's single sign-on: its identity provider, the email domains it covers, its rules."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company

# The ``amr`` values (RFC 8176) that say the provider checked a second factor.
MFA_AMR_VALUES = frozenset({"mfa", "otp", "hwk"})


class SsoConfig(models.Model):
    """One per company. The client secret is stored encrypted (``portal.crypto``, purpose
    ``sso.client_secret``, bound to the company) and never shown again."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="sso_config")
    enabled = models.BooleanField(_("enabled"), default=True)
    issuer = models.URLField(_("issuer URL"), max_length=300)
    client_id = models.CharField(_("client ID"), max_length=200)
    secret_key_id = models.CharField(max_length=16)
    secret_ciphertext = models.BinaryField()
    required = models.BooleanField(_("single sign-on required"), default=False)
    mfa_satisfies_2fa = models.BooleanField(
        _("the provider's second factor counts as ours"), default=False
    )
    mfa_acr_values = models.CharField(_("acr values that mean MFA"), max_length=300, blank=True)
    session_minutes = models.PositiveIntegerField(_("sign in again after (minutes)"), default=60)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("single sign-on configuration")
        verbose_name_plural = _("single sign-on configurations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(session_minutes__gte=5, session_minutes__lte=1440),
                name="sso_session_minutes_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.company} → {self.issuer}"

    @property
    def acr_list(self) -> list[str]:
        return self.mfa_acr_values.split()


class SsoDomain(models.Model):
    """An email domain whose addresses sign in through this configuration. A domain belongs to
    one company's configuration only, so an address always leads to one provider."""

    config = models.ForeignKey(SsoConfig, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(_("email domain"), max_length=253)

    class Meta:
        verbose_name = _("single sign-on domain")
        verbose_name_plural = _("single sign-on domains")
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="sso_domain_unique"),
        ]

    def __str__(self) -> str:
        return self.domain


class SsoIdentity(models.Model):
    """The provider's subject (``sub``) a member first signed in as. A later sign-in with the
    same address but another subject (an address the provider gave to someone new) is refused."""

    config = models.ForeignKey(SsoConfig, on_delete=models.CASCADE, related_name="identities")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(_("subject"), max_length=255)
    first_seen_at = models.DateTimeField(_("first sign-in"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last sign-in"), default=timezone.now)

    class Meta:
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(fields=["config", "user"], name="sso_identity_user_unique"),
            models.UniqueConstraint(fields=["config", "subject"], name="sso_identity_sub_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.subject})"
