"""Follow-ups of the billing core's money acts, for the apps built on it (it never imports them).

A pro-forma invoice paid means the order behind it can be funded. That happens in a transaction
of its own, after the payment's transaction commits: the payment never waits for an order row
(billing.locks), and a payment rolled back funds nothing. An app registers a Celery task taking
``(proforma_id, invoice_id, actor_id)``, which must be idempotent; it is recorded in the outbox
(portal.services.outbox) in the payment's transaction and published after commit, or by the
relay once the broker is back.
"""

from __future__ import annotations

from typing import Any

from portal.models import User

_proforma_paid_tasks: dict[str, Any] = {}


def on_proforma_paid(task: Any) -> None:
    """Register a task (by its name, so registering twice is harmless)."""
    _proforma_paid_tasks[task.name] = task


def proforma_paid_follow_up(*, proforma_id: int, invoice_id: int, actor: User | None) -> None:
    from portal.services.outbox import outbox_enqueue

    actor_id = actor.pk if actor is not None and actor.pk else None
    for task in _proforma_paid_tasks.values():
        outbox_enqueue(task, proforma_id, invoice_id, kwargs={"actor_id": actor_id})
