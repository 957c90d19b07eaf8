"""The owner's single sign-on settings form and the sign-in form's email."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sso import oidc

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class SsoConfigForm(forms.Form):
    issuer = forms.URLField(
        label=gettext_lazy("Issuer URL"),
        max_length=300,
        assume_scheme="https",
        help_text=gettext_lazy(
            "Your identity provider's issuer, for example https://login.example.com/realms/acme. "
            "We read its settings from /.well-known/openid-configuration under it."
        ),
    )
    client_id = forms.CharField(label=gettext_lazy("Client ID"), max_length=200)
    client_secret = forms.CharField(
        label=gettext_lazy("Client secret"),
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    domains = forms.CharField(
        label=gettext_lazy("Email domains"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "The domains of your members' work addresses, one per line, for example example.com. "
            "Addresses at these domains are offered single sign-on."
        ),
    )
    enabled = forms.BooleanField(
        label=gettext_lazy("Single sign-on is on"), required=False, initial=True
    )
    required = forms.BooleanField(
        label=gettext_lazy("Members must use single sign-on"),
        required=False,
        help_text=gettext_lazy(
            "Members can then no longer use their passwords to work for this company, so "
            "someone your identity provider disables cannot come back."
        ),
    )
    mfa_satisfies_2fa = forms.BooleanField(
        label=gettext_lazy("Your provider's second factor counts as ours"),
        required=False,
        help_text=gettext_lazy(
            "When the provider says it checked a second factor (amr mfa, otp or hwk, or one of "
            "the acr values below), members whose role needs two-factor authentication skip "
            "the portal's own code at sign-in."
        ),
    )
    mfa_acr_values = forms.CharField(
        label=gettext_lazy("acr values that mean a second factor"),
        required=False,
        max_length=300,
        help_text=gettext_lazy("Optional, separated by spaces, as your provider names them."),
    )
    session_minutes = forms.IntegerField(
        label=gettext_lazy("Sign in again through the provider after (minutes)"),
        min_value=5,
        max_value=1440,
        initial=60,
        help_text=gettext_lazy(
            "A single sign-on session ends after this time and goes back through your "
            "provider, which refuses anyone it has disabled."
        ),
    )

    def __init__(self, *args: Any, has_secret: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret
        self.fields["client_secret"].help_text = (
            _("Stored encrypted and never shown again. Leave it empty to keep the stored one.")
            if has_secret
            else _("Stored encrypted and never shown again.")
        )

    def clean_issuer(self) -> str:
        issuer = str(self.cleaned_data["issuer"]).strip()
        if not issuer.startswith("https://") and not settings.SSO_ALLOW_LOCAL_ISSUER:
            raise forms.ValidationError(
                _("The issuer URL %(url)s must start with https://.") % {"url": issuer}
            )
        try:
            oidc.discover(issuer)
        except oidc.OidcError as exc:
            raise forms.ValidationError(
                _(
                    "The issuer URL %(url)s gave no usable OpenID Connect discovery document "
                    "(%(reason)s). Enter the URL your provider calls “issuer”, without "
                    "/.well-known/openid-configuration."
                )
                % {"url": issuer, "reason": exc.reason}
            ) from exc
        return issuer

    def clean_client_secret(self) -> str:
        secret = str(self.cleaned_data.get("client_secret") or "")
        if not secret and not self.has_secret:
            raise forms.ValidationError(
                _("Enter the client secret your identity provider gave for this portal.")
            )
        return secret

    def clean_domains(self) -> tuple[str, ...]:
        domains: list[str] = []
        for raw in re.split(r"[\s,;]+", str(self.cleaned_data["domains"])):
            domain = raw.strip().lower().removeprefix("@")
            if not domain:
                continue
            if not _DOMAIN.match(domain):
                raise forms.ValidationError(
                    _("“%(value)s” is not an email domain. Write it like example.com.")
                    % {"value": raw}
                )
            if domain not in domains:
                domains.append(domain)
        if not domains:
            raise forms.ValidationError(
                _("Enter at least one email domain, for example example.com.")
            )
        return tuple(domains)

    def clean_mfa_acr_values(self) -> str:
        return " ".join(str(self.cleaned_data.get("mfa_acr_values") or "").split())


class SsoEmailForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Work email"),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
