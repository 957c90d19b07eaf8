"""Compliance tasks (thin: each calls one service)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from compliance.services.deposit import deposit_check_run


@shared_task(name="compliance.tasks.deposit_check_daily", acks_late=True)
def deposit_check_daily() -> dict[str, Any]:
    """The live deposit monitor's daily figures (idempotent: one row per day)."""
    check = deposit_check_run()
    return {"date": check.date.isoformat(), "shortfall": str(check.shortfall)}
