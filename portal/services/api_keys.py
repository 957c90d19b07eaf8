"""Buyer API keys: created and revoked by owners, stored as a SHA-256 digest, shown once.

A key reads ``ecp_<prefix>_<secret>``. The prefix (8 characters, unique) finds the row; the
digest of the whole key is compared in constant time. A key acts as one member of the company,
with that member's current role, and only within its scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.models import ApiKey, AuditAction, Company, Membership, Role, User
from portal.services.audit import audit_record

KEY_START = "ecp_"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_BYTES = 32  # 256 bits, 43 url-safe characters
_MAX_KEY_LENGTH = 128
# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _require_owner(company: Company, actor: User) -> None:
    if not Membership.objects.filter(company=company, user=actor, role=Role.OWNER).exists():
        raise PermissionDenied(_("Only an owner of the company can manage API keys."))


def _clean_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ApiKey.Scope.values))
    if unknown:
        raise ValidationError(
            {
                "scopes": _("Unknown scope: %(scopes)s. Choose among %(known)s.")
                % {"scopes": ", ".join(unknown), "known": ", ".join(ApiKey.Scope.values)}
            }
        )
    chosen = [scope for scope in ApiKey.Scope.values if scope in scopes]
    if not chosen:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    return chosen


@transaction.atomic
def api_key_create(
    *,
    company: Company,
    user: User,
    name: str,
    scopes: list[str],
    created_by: User,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext. The plaintext is returned once and stored nowhere."""
    _require_owner(company, created_by)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the key a name, such as the system that uses it.")})
    if len(name) > 100:
        raise ValidationError({"name": _("Keep the name to 100 characters or fewer.")})
    if not Membership.objects.filter(company=company, user=user).exists():
        raise ValidationError(
            {
                "user": _("The key must act as a member of %(company)s.")
                % {"company": company.legal_name}
            }
        )
    chosen = _clean_scopes(scopes)
    for _attempt in range(5):
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        plaintext = f"{KEY_START}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    company=company,
                    user=user,
                    name=name,
                    prefix=prefix,
                    digest=api_key_digest(plaintext),
                    scopes=chosen,
                    created_by=created_by,
                )
            break
        except IntegrityError:
            continue  # the unique prefix decides; another key took this one
    else:  # pragma: no cover - five prefix collisions in a row
        raise RuntimeError("could not allocate an API key prefix")
    audit_record(
        action=AuditAction.API_KEY_CREATED,
        actor=created_by,
        company=company,
        obj=key,
        ip=ip,
        changes={"name": name, "prefix": prefix, "acts_as": user.email, "scopes": chosen},
    )
    return key, plaintext


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User, ip: str | None = None) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing."""
    _require_owner(key.company, actor)
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        action=AuditAction.API_KEY_REVOKED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"name": locked.name, "prefix": locked.prefix},
    )
    return locked


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key for this plaintext, or None: unknown, wrong, revoked, its member gone or
    deactivated, or its company not active. One query, plus a write at most once a minute."""
    raw = (raw or "").strip()
    if not raw.startswith(KEY_START) or len(raw) > _MAX_KEY_LENGTH:
        return None
    prefix = raw[len(KEY_START) : len(KEY_START) + PREFIX_LENGTH]
    key = (
        ApiKey.objects.select_related("company", "user")
        .annotate(
            is_member=Exists(
                Membership.objects.filter(company=OuterRef("company"), user=OuterRef("user"))
            )
        )
        .filter(prefix=prefix)
        .first()
    )
    if key is None or not hmac.compare_digest(key.digest, api_key_digest(raw)):
        return None
    if (
        key.revoked_at is not None
        or not key.is_member
        or not key.user.is_active
        or key.company.status != Company.Status.ACTIVE
    ):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key
