"""A person's account as a whole: deactivation ends every session it has, for good."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.utils import timezone

from portal.models import AuditAction, User
from portal.services.audit import audit_record


def user_sessions_delete(*, user: User) -> int:
    """Delete every live session signed in as ``user``; returns how many.

    The database session store keeps the user id only inside the signed session data, so this
    reads every live session once. Deactivation is rare, and sessions live at most
    SESSION_IDLE_TIMEOUT_MINUTES after their last request (portal/session_timeout.py).
    """
    # The session store is a setting (Django loads it the same way), not a module of ours.
    store_class: Any = import_module(settings.SESSION_ENGINE).SessionStore
    model = store_class.get_model_class()
    decoder = store_class()
    user_id = str(user.pk)
    mine = [
        session.pk
        for session in model.objects.filter(expire_date__gt=timezone.now())
        .only("session_key", "session_data")
        .iterator(chunk_size=2000)
        if str(decoder.decode(session.session_data).get(SESSION_KEY)) == user_id
    ]
    deleted, _ = model.objects.filter(pk__in=mine).delete()
    return deleted


@transaction.atomic
def user_set_active(*, user: User, active: bool, actor: User | None, ip: str | None = None) -> User:
    """Deactivate or reactivate an account. Deactivation deletes its sessions (the browser that
    held one must sign in again, and reactivation brings none back); Django already refuses an
    inactive user's session and every API key acting as them is refused while inactive."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    was_active = locked.is_active
    if was_active != active:
        locked.is_active = active
        locked.save(update_fields=["is_active"])
    sessions = 0 if active else user_sessions_delete(user=locked)
    if was_active != active or sessions:
        audit_record(
            action=AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED,
            actor=actor,
            obj=locked,
            ip=ip,
            changes={"is_active": [was_active, active], "sessions_deleted": sessions},
        )
    user.is_active = active
    return locked
