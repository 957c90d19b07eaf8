"""Merchants and their API keys: set up by operators, stored as a SHA-256 digest, shown once.

A merchant key reads ``ecm_<prefix>_<secret>`` (a buyer's reads ``ecp_``): each API takes only its
own kind, so a buyer key on the merchant API, or a merchant key on the buyer API, is a 401. The
prefix (8 characters, unique) finds the row; the digest of the whole key is compared in constant
time. A key is frozen by a burst of failed look-ups or a canary code (``spend.throttle``) until
an operator unfreezes it with a reason; a revoked key never works again.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cards.audit import SpendAction
from cards.models import Merchant, MerchantApiKey
from portal.db import model_columns, model_from_row, prepared_cursor
from portal.models import User
from portal.services.api_keys import api_key_digest, api_key_issue, api_key_prefix
from portal.services.audit import audit_record

KEY_START = "ecm_"
# Writing last_used_at on every request would turn each balance check into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Why the merchant API froze a key (``frozen_reason``); an operator's freeze keeps their words.
FREEZE_CANARY = "canary"
FREEZE_BURST = "failure-burst"
FREEZE_REASON_LABELS = {
    FREEZE_CANARY: gettext_lazy("A canary card (never sold) was looked up with it"),
    FREEZE_BURST: gettext_lazy("Too many failed card look-ups in a short time"),
}
MERCHANT_FIELDS = (
    "name",
    "status",
    "settlement_account_name",
    "settlement_bank",
    "settlement_account_number",
)


@transaction.atomic
def merchant_save(
    *, merchant: Merchant, changed: list[str], actor: User, ip: str | None = None
) -> Merchant:
    """Save a merchant an operator added or edited (the admin's form), with an audit row naming
    the fields that changed."""
    created = merchant.pk is None
    merchant.name = merchant.name.strip()
    if not merchant.name:
        raise ValidationError({"name": _("Give the merchant's name.")})
    merchant.save()
    audit_record(
        action=SpendAction.MERCHANT_CREATED if created else SpendAction.MERCHANT_EDITED,
        actor=actor,
        obj=merchant,
        ip=ip,
        changes={
            "name": merchant.name,
            "status": merchant.status,
            "changed": [name for name in changed if name in MERCHANT_FIELDS],
        },
    )
    return merchant


def _clean_scopes(scopes: list[str]) -> list[str]:
    known = MerchantApiKey.Scope.values
    unknown = sorted(set(scopes) - set(known))
    if unknown:
        raise ValidationError(
            {
                "scopes": _("Unknown scope: %(scopes)s. Choose among %(known)s.")
                % {"scopes": ", ".join(unknown), "known": ", ".join(known)}
            }
        )
    chosen = [scope for scope in known if scope in scopes]
    if not chosen:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    return chosen


@transaction.atomic
def merchant_key_create(
    *, merchant: Merchant, name: str, scopes: list[str], actor: User, ip: str | None = None
) -> tuple[MerchantApiKey, str]:
    """A new key of the merchant and its plaintext, returned once and stored nowhere."""
    name = (name or "").strip()
    if not name:
        raise ValidationError(
            {"name": _("Give the key a name, such as the checkout that uses it.")}
        )
    if len(name) > 100:
        raise ValidationError({"name": _("Keep the name to 100 characters or fewer.")})
    chosen = _clean_scopes(scopes)
    key, plaintext = api_key_issue(
        start=KEY_START,
        create=lambda prefix, digest: MerchantApiKey.objects.create(
            merchant=merchant,
            name=name,
            prefix=prefix,
            digest=digest,
            scopes=chosen,
            created_by=actor,
        ),
    )
    prefix = key.prefix
    audit_record(
        action=SpendAction.MERCHANT_KEY_CREATED,
        actor=actor,
        obj=key,
        ip=ip,
        changes={"merchant": merchant.name, "name": name, "prefix": prefix, "scopes": chosen},
    )
    return key, plaintext


@transaction.atomic
def merchant_key_revoke(
    *, key: MerchantApiKey, actor: User, ip: str | None = None
) -> MerchantApiKey:
    """Revoke a key for good. Revoking a revoked key changes nothing."""
    locked = MerchantApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        action=SpendAction.MERCHANT_KEY_REVOKED,
        actor=actor,
        obj=locked,
        ip=ip,
        changes={"prefix": locked.prefix, "merchant_id": locked.merchant_id},
    )
    return locked


@transaction.atomic
def merchant_key_freeze(
    *, key_id: int, reason: str, actor: User | None = None, ip: str | None = None
) -> bool:
    """Freeze a key (it answers 401 until an operator unfreezes it) and alert the operators once
    this transaction commits. False when it was already frozen or is revoked: one alert per
    freeze, however many requests race into it."""
    frozen = MerchantApiKey.objects.filter(
        pk=key_id, frozen_at__isnull=True, revoked_at__isnull=True
    ).update(frozen_at=timezone.now(), frozen_reason=reason[:200])
    if not frozen:
        return False
    key = MerchantApiKey.objects.select_related("merchant").get(pk=key_id)
    audit_record(
        action=SpendAction.MERCHANT_KEY_FROZEN,
        actor=actor,
        actor_label="" if actor is not None else f"merchant-api:{key.prefix}",
        obj=key,
        ip=ip,
        changes={"prefix": key.prefix, "merchant": key.merchant.name, "reason": reason[:200]},
    )
    from cards.tasks import merchant_key_frozen_alert
    from portal.services.outbox import outbox_enqueue

    outbox_enqueue(merchant_key_frozen_alert, key.pk)
    return True


@transaction.atomic
def merchant_key_unfreeze(
    *, key: MerchantApiKey, reason: str, actor: User, ip: str | None = None
) -> MerchantApiKey:
    """An operator lets a frozen key work again, saying why (the audit keeps it)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": _("Say why the key may work again (what you checked with the merchant).")}
        )
    locked = MerchantApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.frozen_at is None:
        return locked
    was = {"frozen_at": locked.frozen_at.isoformat(), "frozen_reason": locked.frozen_reason}
    locked.frozen_at = None
    locked.frozen_reason = ""
    locked.save(update_fields=["frozen_at", "frozen_reason"])
    audit_record(
        action=SpendAction.MERCHANT_KEY_UNFROZEN,
        actor=actor,
        obj=locked,
        ip=ip,
        changes={"prefix": locked.prefix, "reason": reason[:500], **was},
    )
    return locked


def merchant_key_prefix(raw: str) -> str:
    """The prefix a presented merchant key names ("" when it is not shaped like one): what the
    limits count a key by before it is looked up."""
    return api_key_prefix(raw, start=KEY_START)


# Every name from the models' metadata; the prefix is a parameter.
_KEY_SQL = (
    f"SELECT {model_columns(MerchantApiKey, 'k')}, {model_columns(Merchant, 'm')} "  # noqa: S608
    f'FROM "{MerchantApiKey._meta.db_table}" k JOIN "{Merchant._meta.db_table}" m '
    'ON m."id" = k."merchant_id" WHERE k."prefix" = %s'
)


def _key_by_prefix(prefix: str) -> MerchantApiKey | None:
    """The key with this prefix (unique) and its merchant. On PostgreSQL one prepared statement
    (the ORM compiles its query anew on every request, about as much as the rest of a balance
    check costs); elsewhere the ORM."""
    if connection.vendor != "postgresql":
        return MerchantApiKey.objects.select_related("merchant").filter(prefix=prefix).first()
    with prepared_cursor() as cursor:
        cursor.execute(_KEY_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    key: MerchantApiKey = model_from_row(MerchantApiKey, row)
    key.merchant = model_from_row(Merchant, row, len(MerchantApiKey._meta.concrete_fields))
    return key


def merchant_key_authenticate(raw: str) -> MerchantApiKey | None:
    """The key for this plaintext, or None: not a merchant key, unknown, wrong or revoked. A
    frozen key, or one of a suspended merchant, is returned: the caller refuses it with its own
    message. One query, plus a write at most once a minute."""
    raw = (raw or "").strip()
    prefix = merchant_key_prefix(raw)
    if not prefix:
        return None
    key = _key_by_prefix(prefix)
    if key is None or not hmac.compare_digest(key.digest, api_key_digest(raw)):
        return None
    if key.revoked_at is not None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        MerchantApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key


def merchant_key_frozen_notify(*, key_id: int) -> str:
    """Tell the operators that the merchant API froze a key: ``sent``, ``no-recipients`` or
    ``skipped`` (no such key, or no longer frozen). At least once: a retry may send it again."""
    from portal.notices import Notice, notice_compose, notice_link, notice_send, operator_recipients

    def prepare() -> Notice | str:
        key = MerchantApiKey.objects.select_related("merchant").filter(pk=key_id).first()
        if key is None or key.frozen_at is None:
            return "skipped"
        failures = key.lookup_failures.filter(created_at__gte=key.frozen_at - timedelta(hours=1))
        subject, body = notice_compose(
            "emails/merchant_key_frozen",
            {
                "key": key,
                "why": FREEZE_REASON_LABELS.get(key.frozen_reason, key.frozen_reason),
                "failures": failures.count(),
                "addresses": sorted(
                    {str(ip) for ip in failures.values_list("client_ip", flat=True) if ip}
                )[:10],
                "link": notice_link("admin:cards_merchantapikey_change", key.pk),
            },
        )
        return Notice(to=operator_recipients(), subject=subject, body=body)

    return notice_send(prepare=prepare)
