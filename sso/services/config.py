"""A company owner sets up, changes and removes single sign-on. Audited; the client secret is
encrypted at rest and appears in no audit row, log or page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import crypto
from portal.errors import DomainError
from portal.models import Company, User
from portal.policy import Action, require
from portal.services.audit import audit_record
from sso.audit import SsoAction
from sso.models import SsoConfig, SsoDomain, SsoIdentity

SECRET_PURPOSE = "sso.client_secret"
_AUDITED_FIELDS = (
    "enabled",
    "issuer",
    "client_id",
    "required",
    "mfa_satisfies_2fa",
    "mfa_acr_values",
    "session_minutes",
)


@dataclass(frozen=True)
class SsoConfigInput:
    issuer: str
    client_id: str
    client_secret: str  # empty: keep the stored one
    domains: tuple[str, ...]  # lower case, checked by the form
    enabled: bool = True
    required: bool = False
    mfa_satisfies_2fa: bool = False
    mfa_acr_values: str = ""
    session_minutes: int = 60


def _associated(company: Company) -> bytes:
    # Binds the ciphertext to its company: copied to another company's row, it does not decrypt.
    return company.public_id.bytes


def client_secret(config: SsoConfig) -> str:
    """The decrypted client secret, for the token request only."""
    return crypto.decrypt(
        config.secret_key_id,
        bytes(config.secret_ciphertext),
        purpose=SECRET_PURPOSE,
        associated=_associated(config.company),
    )


def _snapshot(config: SsoConfig | None) -> dict[str, str]:
    if config is None:
        return {}
    values = {name: str(getattr(config, name)) for name in _AUDITED_FIELDS}
    values["domains"] = " ".join(sorted(config.domains.values_list("domain", flat=True)))
    return values


def _domain_taken(domain: str) -> DomainError:
    return DomainError(
        _(
            "The email domain %(domain)s is already covered by another company's single "
            "sign-on. Remove it from the list, or ask the operators if it belongs to you."
        )
        % {"domain": domain},
        code="sso_domain_taken",
    )


@transaction.atomic
def sso_config_save(
    *,
    company: Company,
    data: SsoConfigInput,
    actor: User,
    actor_signed_in_with_sso: bool,
    ip: str | None = None,
) -> SsoConfig:
    """Create or change the company's configuration (owners only). One audit row names each
    setting that changed, before and after; the secret only as "changed".

    Requiring single sign-on takes an owner who signed in with it: that proves the settings
    work, and a password session would lose the company the moment it is required."""
    require(company, actor, Action.SSO_MANAGE)
    config = SsoConfig.objects.select_for_update().filter(company=company).first()
    if data.required and data.enabled and not actor_signed_in_with_sso:
        raise DomainError(
            _(
                "Sign in with single sign-on yourself before you require it: that proves the "
                "settings work, and keeps you from locking yourself out. Save without "
                "“Members must use single sign-on”, sign out, sign in with your company's SSO, "
                "then require it."
            ),
            code="sso_required_untested",
        )
    if (
        config is not None
        and not data.client_secret
        and (config.issuer != data.issuer or config.client_id != data.client_id)
    ):
        # The stored secret is the old provider's registration: never sent to another one.
        raise DomainError(
            _("Enter the client secret of the new identity provider or client ID."),
            code="sso_secret_missing",
        )
    if config is None and not data.client_secret:
        raise DomainError(
            _("Enter the client secret your identity provider gave for this portal."),
            code="sso_secret_missing",
        )
    if not data.domains:
        raise DomainError(
            _("Enter at least one email domain, for example example.com."),
            code="sso_domains_missing",
        )
    before = _snapshot(config)
    taken = SsoDomain.objects.filter(domain__in=data.domains)
    if config is not None:
        taken = taken.exclude(config=config)
    first_taken = taken.order_by("domain").values_list("domain", flat=True).first()
    if first_taken:
        raise _domain_taken(first_taken)
    if config is None:
        config = SsoConfig(company=company)
    elif config.issuer != data.issuer:
        # Subjects are the old provider's: the new one's are different people to us.
        SsoIdentity.objects.filter(config=config).delete()
    for name in _AUDITED_FIELDS:
        setattr(config, name, getattr(data, name))
    if data.client_secret:
        config.secret_key_id, config.secret_ciphertext = crypto.encrypt(
            data.client_secret, purpose=SECRET_PURPOSE, associated=_associated(company)
        )
    config.updated_at = timezone.now()
    config.updated_by = actor
    config.save()
    config.domains.exclude(domain__in=data.domains).delete()
    existing = set(config.domains.values_list("domain", flat=True))
    for domain in data.domains:
        if domain in existing:
            continue
        try:
            with transaction.atomic():
                SsoDomain.objects.create(config=config, domain=domain)
        except IntegrityError as exc:
            # Another company took it between our check and this insert: the index decides.
            raise _domain_taken(domain) from exc
    after = _snapshot(config)
    changed = {
        name: [before.get(name, ""), value]
        for name, value in after.items()
        if before.get(name) != value
    }
    if data.client_secret:
        changed["client_secret"] = ["", "changed"]  # never the value
    if changed:
        audit_record(
            action=SsoAction.CONFIG_SAVED,
            actor=actor,
            company=company,
            obj=config,
            ip=ip,
            changes=changed,
        )
    return config


@transaction.atomic
def sso_config_remove(*, company: Company, actor: User, ip: str | None = None) -> None:
    """Remove the company's single sign-on; members sign in with their passwords again."""
    require(company, actor, Action.SSO_MANAGE)
    config = SsoConfig.objects.select_for_update().filter(company=company).first()
    if config is None:
        return
    before = _snapshot(config)
    audit_record(
        action=SsoAction.CONFIG_REMOVED,
        actor=actor,
        company=company,
        obj=config,
        ip=ip,
        changes={name: [value, ""] for name, value in before.items()},
    )
    config.delete()


@transaction.atomic
def sso_config_stop_requiring(*, config: SsoConfig, actor: User, ip: str | None = None) -> bool:
    """An operator lets a company's members use their passwords again (its provider is broken,
    say). Audited on the company; False when it was not required."""
    locked = SsoConfig.objects.select_for_update().select_related("company").get(pk=config.pk)
    if not locked.required:
        return False
    locked.required = False
    locked.updated_at = timezone.now()
    locked.updated_by = actor
    locked.save(update_fields=["required", "updated_at", "updated_by"])
    audit_record(
        action=SsoAction.CONFIG_SAVED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"required": ["True", "False"]},
    )
    return True
