"""Celery: the broker (Redis, or files under var/) and the beat schedule."""

from __future__ import annotations

from celery.schedules import crontab as _crontab

from .base import VAR_DIR, env
from .databases import REDIS_KEY_PREFIX, REDIS_URL
from .rules import ISSUANCE_SWEEP_SECONDS

# --- Celery --------------------------------------------------------------------------------------
# The longest task (a code-generation chunk or a statement run) must finish well inside this, or
# Redis hands its message to a second worker while the first is still working.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600)
# A web request publishes its follow-ups through the outbox (portal/services/outbox.py) and must
# never hang on a broker that is away: connecting, and each socket operation, give up after these
# many seconds; the publish itself is not retried (the relay is).
BROKER_CONNECT_TIMEOUT = env.float("BROKER_CONNECT_TIMEOUT", default=3.0)
BROKER_SOCKET_TIMEOUT = env.float("BROKER_SOCKET_TIMEOUT", default=10.0)
OUTBOX_PUBLISH_TIMEOUT = env.float("OUTBOX_PUBLISH_TIMEOUT", default=2.0)
# How often Celery beat runs the outbox relay, which publishes what could not be published.
OUTBOX_RELAY_SECONDS = env.float("OUTBOX_RELAY_SECONDS", default=60.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT
# Nobody reads the results of fire-and-forget tasks; the few whose results are read (the
# workers' ping) say ignore_result=False themselves.
CELERY_TASK_IGNORE_RESULT = True
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "global_keyprefix": REDIS_KEY_PREFIX,
        "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
        "socket_timeout": BROKER_SOCKET_TIMEOUT,
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "global_keyprefix": REDIS_KEY_PREFIX,
        # A reader of a result (only the ping) gives up after a few seconds, not 20.
        "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 1},
    }
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_CONNECT_TIMEOUT
    CELERY_REDIS_SOCKET_TIMEOUT = BROKER_SOCKET_TIMEOUT
else:
    # Embedded default: a broker in plain files under var/, shared by the web server and worker.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "results", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (worker control) exchanges; kombu's default is ./control in the cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    }
    CELERY_RESULT_BACKEND = f"file://{_broker_dir / 'results'}"
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {}

CELERY_BEAT_SCHEDULE = {
    "issuance-sweep": {"task": "cards.tasks.sweep_issuance", "schedule": ISSUANCE_SWEEP_SECONDS},
    "outbox-relay": {"task": "portal.tasks.outbox_relay", "schedule": OUTBOX_RELAY_SECONDS},
}
# Statements of last month, the 1st at 02:00 (Celery's timezone is Asia/Shanghai: portal/celery.py).

CELERY_BEAT_SCHEDULE["statements-monthly"] = {
    "task": "billing.tasks.statement_monthly",
    "schedule": _crontab(minute=0, hour=2, day_of_month=1),
}
# Receivables (billing/tasks/receivables.py): the money invariants at 03:30, then overdue
# marking, reminders and credit holds at 06:00, before buyers start ordering.
CELERY_BEAT_SCHEDULE["ledger-check-nightly"] = {
    "task": "billing.tasks.ledger_check",
    "schedule": _crontab(minute=30, hour=3),
}
CELERY_BEAT_SCHEDULE["receivables-daily"] = {
    "task": "billing.tasks.receivables_daily",
    "schedule": _crontab(minute=0, hour=6),
}
# Merchant settlements of the days before (cards/services/settlement.py), at 01:00 once the
# day's last redemptions have committed.
CELERY_BEAT_SCHEDULE["merchant-settlements-nightly"] = {
    "task": "cards.tasks.merchant_settlements_nightly",
    "schedule": _crontab(minute=0, hour=1),
}
# Expiry (cards/services/expiry/): bearer cards past their date expire at 00:30, after the day
# turned in Asia/Shanghai and before the ledger check; the reminders 30 and 7 days before expiry
# go out at 09:30, when people read them.
CELERY_BEAT_SCHEDULE["cards-expire-daily"] = {
    "task": "cards.tasks.cards_expire_daily",
    "schedule": _crontab(minute=30, hour=0),
}
CELERY_BEAT_SCHEDULE["card-expiry-reminders-daily"] = {
    "task": "cards.tasks.expiry_reminders_daily",
    "schedule": _crontab(minute=30, hour=9),
}
# The live deposit (escrow) monitor (compliance/tasks.py), after the nightly ledger check.
CELERY_BEAT_SCHEDULE["compliance-deposit-check"] = {
    "task": "compliance.tasks.deposit_check_daily",
    "schedule": _crontab(minute=45, hour=3),
}
