"""Replay: deliver again one event, or every event of a period, to one endpoint of the company.

A replay is a new delivery (``replay=True``) with the event's own id as ``webhook-id`` and the
same payload and sequence number, signed afresh; it follows the usual retry schedule. A period
replays the events of the types the endpoint subscribes to, oldest first, at most
``WEBHOOKS_REPLAY_MAX_EVENTS`` per request.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal import policy
from portal.models import User
from portal.policy import Action
from portal.services.audit import audit_record
from webhooks.audit import WebhookAction
from webhooks.models import Event, WebhookEndpoint
from webhooks.services.recording import delivery_queue


@transaction.atomic
def events_replay(
    *,
    endpoint: WebhookEndpoint,
    actor: User,
    event_ids: Iterable[str] | None = None,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    ip: str | None = None,
) -> int:
    """Queue the replay; returns how many events it delivers again."""
    policy.require(endpoint.company, actor, Action.WEBHOOKS_MANAGE)
    if endpoint.disabled_at is not None:
        raise ValidationError(
            _("The endpoint %(url)s is disabled; enable it before replaying events.")
            % {"url": endpoint.url}
        )
    events = Event.objects.filter(company_id=endpoint.company_id)
    if event_ids is not None:
        wanted = list(event_ids)
        events = events.filter(public_id__in=wanted)
        found = set(events.values_list("public_id", flat=True))
        missing = [e for e in wanted if e not in found]
        if missing:
            raise ValidationError({"event": _("No event “%(value)s”.") % {"value": missing[0]}})
    else:
        if start is None or end is None or start >= end:
            raise ValidationError(
                {"start": _("Give the start and the end of the period, the start first.")}
            )
        events = events.filter(
            created_at__gte=start, created_at__lt=end, type__in=endpoint.event_types
        )
    limit = settings.WEBHOOKS_REPLAY_MAX_EVENTS
    chosen = list(events.order_by("created_at", "id")[: limit + 1])
    if len(chosen) > limit:
        raise ValidationError(
            _("That period has more than %(max)s events; replay a shorter period.") % {"max": limit}
        )
    for event in chosen:
        delivery_queue(event=event, endpoint=endpoint, replay=True)
    audit_record(
        action=WebhookAction.EVENTS_REPLAYED,
        actor=actor,
        company=endpoint.company,
        obj=endpoint,
        ip=ip,
        changes={
            "events": len(chosen),
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "event_ids": list(event_ids) if event_ids is not None else None,
        },
    )
    return len(chosen)
