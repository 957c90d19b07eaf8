"""The audit trail's single writer."""

from __future__ import annotations

from typing import Any

from django.db import models

from portal.client_ip import client_ip
from portal.models import AuditEvent, Company, User

# Views and admin actions take the address they pass as ``ip=`` from here.
__all__ = ["audit_record", "client_ip"]


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    company: Company | None = None,
    obj: models.Model | None = None,
    ip: str | None = None,
    changes: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the act it records, so the act and its
    trace commit or roll back together."""
    object_type = ""
    object_id = ""
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(getattr(obj, "public_id", None) or obj.pk)
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor_label or (actor.email if actor is not None else ""),
        company=company,
        object_type=object_type,
        object_id=object_id,
        ip=ip,
        changes=changes or {},
    )
