"""Buyer API keys: created and revoked by owners, stored as a SHA-256 digest, shown once.

A key reads ``ecp_<prefix>_<secret>``; a test key ``ecp_test_<prefix>_<secret>``, and acts on
the company's sandbox (``portal.services.sandbox``; its row's ``company`` is the sandbox). The
prefix (8 characters, unique) finds the row; the digest of the whole key is compared in constant
time. A key acts for the member who created it,
with that member's current role (``portal.policy``), and only within its scopes: a member cannot
give a key a scope their role does not allow, and a scope their role loses later stops working at
once. A key with a sensitive scope (code export, approval) needs a fresh second factor to create,
and the company's owners are told by email.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import policy
from portal.models import ApiKey, AuditAction, Company, Membership, Role, User
from portal.notices import (
    Notice,
    NoticeMarker,
    notice_compose,
    notice_link,
    notice_recipients,
    notice_send,
)
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.sandbox import company_sandbox_get

KEY_START = "ecp_"
TEST_KEY_START = "ecp_test_"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_BYTES = 32  # 256 bits, 43 url-safe characters
_MAX_KEY_LENGTH = 128
# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_issue[KeyRow](
    *, start: str, create: Callable[[str, str], KeyRow]
) -> tuple[KeyRow, str]:
    """A new key ``<start><prefix>_<secret>`` (buyer keys and merchant keys share the format):
    ``create(prefix, digest)`` writes its row; the unique prefix index decides, and a prefix
    another key took is drawn again. Returns the row and the plaintext, shown once."""
    for _attempt in range(5):
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        plaintext = f"{start}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        try:
            with transaction.atomic():
                return create(prefix, api_key_digest(plaintext)), plaintext
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate an API key prefix")  # pragma: no cover


def api_key_prefix(raw: str, *, start: str) -> str:
    """The prefix a presented key of this format names, or "" when it is not shaped like one."""
    raw = (raw or "").strip()
    if not raw.startswith(start) or len(raw) > _MAX_KEY_LENGTH:
        return ""
    prefix = raw[len(start) : len(start) + PREFIX_LENGTH]
    return prefix if len(prefix) == PREFIX_LENGTH and prefix.isalnum() else ""


def api_key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def second_factor_is_fresh(second_factor_at: float | None) -> bool:
    """Whether a second-factor check at this time (seconds since the epoch) still counts for
    a sensitive act (``CODE_REVEAL_2FA_MINUTES``)."""
    if second_factor_at is None:
        return False
    age = time.time() - second_factor_at
    return 0 <= age < settings.CODE_REVEAL_2FA_MINUTES * 60


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


def _check_scopes_for_role(membership: Membership, scopes: list[str]) -> None:
    wider = [scope for scope in scopes if not policy.scope_allowed(membership, scope)]
    if wider:
        labels = dict(ApiKey.Scope.choices)
        message = _(
            "Your role (%(role)s) does not allow %(scopes)s, so your key cannot have it. "
            "Your role allows: %(allowed)s."
        ) % {
            "role": membership.get_role_display(),
            "scopes": ", ".join(str(labels[scope]) for scope in wider),
            "allowed": ", ".join(str(labels[s]) for s in policy.scopes_for(membership)) or "—",
        }
        raise ValidationError({"scopes": ValidationError(message, code="scope_not_allowed")})


@transaction.atomic
def api_key_create(
    *,
    company: Company,
    user: User,
    name: str,
    scopes: list[str],
    second_factor_at: float | None = None,
    test: bool = False,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key of ``user``, acting for them, and its plaintext. The plaintext is returned
    once and stored nowhere. ``second_factor_at`` is when the user last passed a second-factor
    check in this session (needed fresh for a sensitive scope). A ``test`` key acts on the
    company's sandbox, made now if need be; the same rules hold for it."""
    if company.is_sandbox:  # keys are made for the real company; ``test`` picks the sandbox
        raise ValueError("api_key_create takes the real company, not its sandbox")
    membership = policy.require(company, user, Action.API_KEYS_OWN)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the key a name, such as the system that uses it.")})
    if len(name) > 100:
        raise ValidationError({"name": _("Keep the name to 100 characters or fewer.")})
    chosen = _clean_scopes(scopes)
    _check_scopes_for_role(membership, chosen)
    sensitive = policy.sensitive(chosen)
    if sensitive and not second_factor_is_fresh(second_factor_at):
        raise ValidationError(
            _(
                "A key that can export card codes or approve orders needs a fresh check of your "
                "second factor: enter the current code from your authenticator app."
            ),
            code="second_factor_required",
        )
    acting = company_sandbox_get(company=company, actor=user, ip=ip) if test else company
    key, plaintext = api_key_issue(
        start=TEST_KEY_START if test else KEY_START,
        create=lambda prefix, digest: ApiKey.objects.create(
            company=acting,
            user=user,
            name=name,
            prefix=prefix,
            digest=digest,
            scopes=chosen,
            created_by=user,
        ),
    )
    prefix = key.prefix
    audit_record(
        action=AuditAction.API_KEY_CREATED,
        actor=user,
        company=company,
        obj=key,
        ip=ip,
        changes={
            "name": name,
            "prefix": prefix,
            "holder": user.email,
            "role": membership.role,
            "scopes": chosen,
            "sensitive_scopes": sensitive,
            "test": test,
        },
    )
    if sensitive:
        from portal.services.outbox import outbox_enqueue
        from portal.tasks import api_key_created_notify_owners

        outbox_enqueue(api_key_created_notify_owners, key.pk)
    return key, plaintext


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User, ip: str | None = None) -> ApiKey:
    """Revoke a key at once: its holder's own, or any key of the company for an owner.
    Revoking a revoked key changes nothing."""
    membership = policy.membership_of(key.company, actor)
    if key.user_id != actor.pk and not policy.can(membership, Action.API_KEYS_MANAGE):
        raise PermissionDenied(policy.refusal(Action.API_KEYS_MANAGE))
    locked = (
        ApiKey.objects.select_for_update(of=("self",))
        .select_related("company__sandbox_of")
        .get(pk=key.pk)
    )
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        action=AuditAction.API_KEY_REVOKED,
        actor=actor,
        # A test key's revocation is on the real company's trail, like its creation.
        company=locked.company.sandbox_of or locked.company,
        obj=locked,
        ip=ip,
        changes={"name": locked.name, "prefix": locked.prefix},
    )
    return locked


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The valid key for this plaintext, or None: unknown, wrong, revoked, its holder gone or
    deactivated, or its company (for a test key, the real company of its sandbox) not active.
    ``key.holder_role`` is the holder's role now, which every request checks against the
    policy. One query, plus a write at most once a minute."""
    raw = (raw or "").strip()
    # "ecp_test_..." is never a live key's shape: its prefix would hold "_".
    prefix = api_key_prefix(raw, start=TEST_KEY_START) or api_key_prefix(raw, start=KEY_START)
    if not prefix:
        return None
    # The prefix is unique: no ORDER BY (``first()`` would sort by the model's ordering, which
    # Django compiles anew on every request).
    key = next(
        iter(
            ApiKey.objects.select_related("company", "company__sandbox_of", "user")
            .annotate(
                # A test key's holder acts in the sandbox with their role in the real company.
                holder_role=Subquery(
                    Membership.objects.filter(
                        company=Coalesce(OuterRef("company__sandbox_of"), OuterRef("company")),
                        user=OuterRef("user"),
                    ).values("role")[:1]
                )
            )
            .filter(prefix=prefix)
            .order_by()[:1]
        ),
        None,
    )
    if key is None or not hmac.compare_digest(key.digest, api_key_digest(raw)):
        return None
    if (
        key.revoked_at is not None
        or key.holder_role is None
        or key.user_id != key.created_by_id
        or not key.user.is_active
        or (key.company.sandbox_of or key.company).status != Company.Status.ACTIVE
    ):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_owners_notify(*, key_id: int) -> str:
    """Tell the company's active owners that a key able to export codes or approve orders was
    made, once: ``sent``, ``already-sent``, ``no-owners`` or ``skipped`` (no such key). The
    key's secret is never in it."""
    marker = NoticeMarker(ApiKey, key_id, "owners_notified_at")

    def prepare() -> Notice | str:
        key = ApiKey.objects.select_related("company__sandbox_of", "user").filter(pk=key_id).first()
        if key is None:
            return "skipped"
        if marker.is_set(key):
            return "already-sent"
        owners = notice_recipients(key.company.sandbox_of or key.company, roles=[Role.OWNER])
        if not owners:
            return "no-owners"
        labels = dict(ApiKey.Scope.choices)
        subject, body = notice_compose(
            "emails/api_key_created",
            {
                "key": key,
                "link": notice_link("portal:api_keys"),
                # Lazy labels: each part of the email names them in its own language.
                "scopes": [labels[s] for s in key.scopes if s in labels],
                "sensitive": [labels[s] for s in key.scopes if s in policy.SENSITIVE_SCOPES],
            },
        )
        return Notice(to=owners, subject=subject, body=body)

    return notice_send(prepare=prepare, marker=marker)
