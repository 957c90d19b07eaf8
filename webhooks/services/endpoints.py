"""An owner's webhook endpoints: create (the secret shown once), change, rotate the secret with
an overlap, re-enable, delete. Each is audited; the secret is never in the audit row or a log."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import policy
from portal.models import Company, User
from portal.policy import Action
from portal.services.audit import audit_record
from webhooks import signing, transport
from webhooks.audit import WebhookAction
from webhooks.events import EventType
from webhooks.models import Delivery, WebhookEndpoint

MAX_ENDPOINTS_PER_COMPANY = 20


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(
            {
                "url": _("“%(value)s” is not a URL; write it as https://example.com/hooks.")
                % {"value": url[:200]}
            }
        ) from None
    try:
        transport.url_check(url)
    except transport.TargetRefused as exc:
        raise ValidationError({"url": f"{exc} (“{url[:200]}”)"}) from None
    return url


def _clean_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = [str(t).strip() for t in event_types]
    unknown = [t for t in wanted if t not in EventType.values]
    if unknown:
        raise ValidationError(
            {
                "event_types": _("Unknown event type “%(value)s”; use one of %(values)s.")
                % {"value": unknown[0], "values": ", ".join(EventType.values)}
            }
        )
    if not wanted:
        raise ValidationError({"event_types": _("Choose at least one event type.")})
    return sorted(set(wanted), key=EventType.values.index)


@transaction.atomic
def endpoint_create(
    *,
    company: Company,
    actor: User,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    ip: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (``whsec_...``), which the caller shows once."""
    policy.require(company, actor, Action.WEBHOOKS_MANAGE)
    url = _clean_url(url)
    types = _clean_event_types(event_types)
    if WebhookEndpoint.objects.filter(company=company).count() >= MAX_ENDPOINTS_PER_COMPANY:
        raise ValidationError(
            _("A company can have at most %(max)s webhook endpoints; delete one first.")
            % {"max": MAX_ENDPOINTS_PER_COMPANY}
        )
    secret = signing.secret_new()
    endpoint = WebhookEndpoint(
        company=company,
        url=url,
        event_types=types,
        description=(description or "").strip()[:200],
        created_by=actor,
    )
    signing.secret_store(endpoint, secret)
    endpoint.save()
    audit_record(
        action=WebhookAction.ENDPOINT_CREATED,
        actor=actor,
        company=company,
        obj=endpoint,
        ip=ip,
        changes={"url": url, "event_types": types},
    )
    return endpoint, secret


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().select_related("company").get(pk=endpoint.pk)


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: User,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    ip: str | None = None,
) -> WebhookEndpoint:
    policy.require(endpoint.company, actor, Action.WEBHOOKS_MANAGE)
    locked = _locked(endpoint)
    before = {"url": locked.url, "event_types": locked.event_types}
    if url is not None:
        locked.url = _clean_url(url)
    if event_types is not None:
        locked.event_types = _clean_event_types(event_types)
    if description is not None:
        locked.description = description.strip()[:200]
    locked.save()
    audit_record(
        action=WebhookAction.ENDPOINT_CHANGED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"before": before, "after": {"url": locked.url, "event_types": locked.event_types}},
    )
    return locked


@transaction.atomic
def endpoint_rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    actor: User,
    overlap_hours: int | None = None,
    ip: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing (a second signature) for ``overlap_hours``, so
    the receiver can switch without losing a delivery. Returns the new secret, shown once."""
    policy.require(endpoint.company, actor, Action.WEBHOOKS_MANAGE)
    hours = settings.WEBHOOKS_SECRET_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    if not 0 <= hours <= 7 * 24:
        raise ValidationError(
            {"overlap_hours": _("The overlap is 0 to 168 hours, not %(value)s.") % {"value": hours}}
        )
    locked = _locked(endpoint)
    locked.previous_secret_key_id = locked.secret_key_id
    locked.previous_secret_ciphertext = locked.secret_ciphertext
    locked.previous_secret_expires_at = timezone.now() + datetime.timedelta(hours=hours)
    secret = signing.secret_new()
    signing.secret_store(locked, secret)
    locked.save()
    audit_record(
        action=WebhookAction.SECRET_ROTATED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"overlap_hours": hours},
    )
    return locked, secret


@transaction.atomic
def endpoint_enable(
    *, endpoint: WebhookEndpoint, actor: User, ip: str | None = None
) -> WebhookEndpoint:
    """Deliver again to an endpoint that was disabled (replay what it missed separately)."""
    policy.require(endpoint.company, actor, Action.WEBHOOKS_MANAGE)
    locked = _locked(endpoint)
    if locked.disabled_at is None:
        return locked
    locked.disabled_at = None
    locked.disabled_reason = ""
    locked.failing_since = None
    locked.consecutive_failures = 0
    locked.owners_notified_at = None
    locked.save()
    audit_record(
        action=WebhookAction.ENDPOINT_ENABLED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
    )
    return locked


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: User, ip: str | None = None) -> None:
    """Delete the endpoint and the record of its deliveries; the events stay."""
    policy.require(endpoint.company, actor, Action.WEBHOOKS_MANAGE)
    locked = _locked(endpoint)
    audit_record(
        action=WebhookAction.ENDPOINT_DELETED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"url": locked.url},
    )
    Delivery.objects.filter(endpoint=locked).delete()
    locked.delete()
