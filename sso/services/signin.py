"""Signing a member in through their company's identity provider.

``sso_signin_start`` picks the configuration by the address's domain and builds the
authorization request; the flow's secrets (state, nonce, PKCE verifier) go into the caller's
session, never a URL but the provider's. ``sso_signin_complete`` checks the answer: state, the
token exchange, the ID token (``sso.oidc``), then the person: a **verified** email
(``email_verified`` true) in one of the configuration's domains, belonging to an existing,
active member of that company, whose provider subject has not changed. Nobody is created.
Every refusal is audited with a short reason.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.errors import DomainError
from portal.models import Membership, User
from portal.services.audit import audit_record
from sso import oidc
from sso.audit import SsoAction
from sso.models import MFA_AMR_VALUES, SsoConfig, SsoIdentity
from sso.services.config import client_secret

# A sign-in the browser does not finish within this time must start again.
FLOW_MAX_AGE_SECONDS = 600


class SignInRefused(DomainError):
    default_code = "sso_refused"


@dataclass(frozen=True)
class SignInFlow:
    """What the session keeps between the redirect to the provider and its answer."""

    config: str  # the configuration's public id
    state: str
    nonce: str
    code_verifier: str
    started_at: float
    next_url: str = "/"

    def as_session(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_session(cls, value: object) -> SignInFlow | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(**value)
        except TypeError:
            return None


@dataclass(frozen=True)
class SignInResult:
    user: User
    config: SsoConfig
    mfa_from_provider: bool  # the provider's second factor counts for this company


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def config_for_email(email: str) -> SsoConfig | None:
    """The enabled configuration covering this address's domain (a domain has one at most)."""
    domain = email_domain(email)
    if not domain:
        return None
    return (
        SsoConfig.objects.select_related("company")
        .filter(enabled=True, domains__domain=domain)
        .first()
    )


def sso_signin_start(
    *, config: SsoConfig, redirect_uri: str, login_hint: str = "", next_url: str = "/"
) -> tuple[str, SignInFlow]:
    """The provider's authorization URL and the flow to keep in the session."""
    try:
        provider = oidc.discover(config.issuer)
    except oidc.OidcError as exc:
        raise SignInRefused(_unreachable_message(), code=f"sso_{exc.reason}") from exc
    flow = SignInFlow(
        config=str(config.public_id),
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        started_at=time.time(),
        next_url=next_url,
    )
    url = oidc.authorization_url(
        provider,
        client_id=config.client_id,
        redirect_uri=redirect_uri,
        state=flow.state,
        nonce=flow.nonce,
        code_verifier=flow.code_verifier,
        login_hint=login_hint,
    )
    return url, flow


def _unreachable_message() -> str:
    return _(
        "Your company's identity provider cannot be reached or answered something we cannot "
        "use. Try again in a few minutes; if it goes on, tell your company's owner."
    )


def _refuse(
    *, reason: str, message: str, config: SsoConfig | None, email: str = "", ip: str | None
) -> SignInRefused:
    """Record the refusal (in its own transaction, so it stays) and return the error to raise."""
    with transaction.atomic():
        audit_record(
            action=SsoAction.LOGIN_REFUSED,
            actor=User.objects.filter(email__iexact=email).first() if email else None,
            actor_label=email[:254],
            company=config.company if config is not None else None,
            obj=config,
            ip=ip,
            changes={"reason": reason},
        )
    return SignInRefused(message, code=f"sso_{reason}")


def _mfa_from_provider(config: SsoConfig, claims: dict[str, Any]) -> bool:
    if not config.mfa_satisfies_2fa:
        return False
    amr = claims.get("amr")
    if isinstance(amr, list) and MFA_AMR_VALUES & {str(value) for value in amr}:
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in config.acr_list


def sso_signin_complete(
    *,
    flow: SignInFlow | None,
    params: dict[str, str],
    redirect_uri: str,
    ip: str | None = None,
) -> SignInResult:
    """Check the provider's answer to ``flow`` and find the member it proves. Raises
    ``SignInRefused`` with a message for the person, after recording why."""
    state = params.get("state", "")
    if (
        flow is None
        or not state
        or not hmac.compare_digest(state.encode(), flow.state.encode())
        or time.time() - flow.started_at > FLOW_MAX_AGE_SECONDS
    ):
        raise _refuse(
            reason="bad_state",
            message=_("This sign-in was not started here or took too long. Start again."),
            config=None,
            ip=ip,
        )
    config = (
        SsoConfig.objects.select_related("company")
        .filter(public_id=flow.config, enabled=True)
        .first()
    )
    if config is None:
        raise _refuse(
            reason="config_gone",
            message=_("Your company no longer uses single sign-on. Sign in with your password."),
            config=None,
            ip=ip,
        )
    if params.get("error"):
        raise _refuse(
            reason=f"provider_{params['error']}"[:60],
            message=_("Your identity provider did not sign you in. Start again."),
            config=config,
            ip=ip,
        )
    try:
        provider = oidc.discover(config.issuer)
        token = oidc.exchange_code(
            provider,
            client_id=config.client_id,
            client_secret=client_secret(config),
            redirect_uri=redirect_uri,
            code=params.get("code", ""),
            code_verifier=flow.code_verifier,
        )
        claims = oidc.verify_id_token(
            provider,
            id_token=token["id_token"],
            client_id=config.client_id,
            nonce=flow.nonce,
            access_token=str(token.get("access_token") or ""),
        )
    except oidc.OidcError as exc:
        raise _refuse(
            reason=exc.reason,
            message=_(
                "Your identity provider's answer could not be verified, so you are not signed "
                "in. Start again; if it goes on, tell your company's owner."
            ),
            config=config,
            ip=ip,
        ) from exc
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise _refuse(
            reason="no_email",
            message=_(
                "Your identity provider did not tell us your email address. Ask your company's "
                "owner to let the portal read it (the email scope)."
            ),
            config=config,
            ip=ip,
        )
    if claims.get("email_verified") is not True:
        raise _refuse(
            reason="email_unverified",
            message=_(
                "Your identity provider has not verified the address %(email)s, so it cannot "
                "sign you in here. Verify it with your provider, or sign in with your password."
            )
            % {"email": email},
            config=config,
            email=email,
            ip=ip,
        )
    domains = set(config.domains.values_list("domain", flat=True))
    member = (
        Membership.objects.select_related("user")
        .filter(company=config.company, user__email__iexact=email, user__is_active=True)
        .first()
        if email_domain(email) in domains
        else None
    )
    if member is None:
        raise _refuse(
            reason="not_a_member",
            message=_(
                "%(email)s is not a member of %(company)s in this portal. Ask an owner of your "
                "company to invite you."
            )
            % {"email": email, "company": config.company.legal_name},
            config=config,
            email=email,
            ip=ip,
        )
    return _signed_in(
        config=config,
        user=member.user,
        subject=str(claims.get("sub")),
        mfa=_mfa_from_provider(config, claims),
        ip=ip,
    )


def _signed_in(
    *, config: SsoConfig, user: User, subject: str, mfa: bool, ip: str | None
) -> SignInResult:
    with transaction.atomic():
        # The subject is another member's here, or this member was another subject.
        reassigned = (
            SsoIdentity.objects.filter(config=config, subject=subject).exclude(user=user).exists()
        )
        if not reassigned:
            identity, created = SsoIdentity.objects.select_for_update().get_or_create(
                config=config, user=user, defaults={"subject": subject}
            )
            reassigned = identity.subject != subject
        if not reassigned:
            if not created:
                identity.last_seen_at = timezone.now()
                identity.save(update_fields=["last_seen_at"])
            audit_record(
                action=SsoAction.LOGIN,
                actor=user,
                company=config.company,
                obj=config,
                ip=ip,
                changes={"mfa_from_provider": mfa},
            )
    if reassigned:
        raise _refuse(
            reason="subject_changed",
            message=_(
                "Your identity provider says this address now belongs to another account there. "
                "Ask your company's owner to check your membership."
            ),
            config=config,
            email=user.email,
            ip=ip,
        )
    return SignInResult(user=user, config=config, mfa_from_provider=mfa)
