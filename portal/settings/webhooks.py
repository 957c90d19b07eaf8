"""Webhooks (webhooks/): the retry schedule, how long a failing endpoint is tried, retention, and
which addresses deliveries may reach. Read after ``celery`` (it adds the sweeps to the beat
schedule)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import IS_PRODUCTION, IS_TEST, env
from .celery import CELERY_BEAT_SCHEDULE

# Seconds to wait before each attempt of a delivery, counted from the event (the first) or from
# the previous failed attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. Published
# in docs/webhooks.md; a delivery fails for good after the last.
WEBHOOKS_RETRY_SCHEDULE = [
    int(s)
    for s in env.list(
        "WEBHOOKS_RETRY_SCHEDULE",
        default=["0", "5", "300", "1800", "7200", "18000", "36000", "36000"],
    )
]
# Seconds an attempt may take, connecting and answering included.
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=15.0)
# An endpoint that has failed every attempt for this many days is disabled and its owners told.
WEBHOOKS_DISABLE_AFTER_DAYS = env.float("WEBHOOKS_DISABLE_AFTER_DAYS", default=5.0)
# Events, deliveries and attempts are kept this many days, then purged.
WEBHOOKS_RETENTION_DAYS = env.int("WEBHOOKS_RETENTION_DAYS", default=90)
# How long a rotated-out secret keeps signing, by default.
WEBHOOKS_SECRET_OVERLAP_HOURS = env.int("WEBHOOKS_SECRET_OVERLAP_HOURS", default=24)
# At most this many events are replayed by one request.
WEBHOOKS_REPLAY_MAX_EVENTS = env.int("WEBHOOKS_REPLAY_MAX_EVENTS", default=10000)
# A retry due within this many seconds is queued with a countdown; later ones (and any message
# lost) are queued by the sweep, which runs every WEBHOOKS_SWEEP_SECONDS (a Redis broker would
# hand a message with a countdown longer than its visibility timeout to a second worker).
WEBHOOKS_COUNTDOWN_MAX_SECONDS = env.int("WEBHOOKS_COUNTDOWN_MAX_SECONDS", default=600)
WEBHOOKS_SWEEP_SECONDS = env.int("WEBHOOKS_SWEEP_SECONDS", default=60)
# Deliveries go only to public HTTPS addresses, checked after DNS resolution at send time. The
# test settings allow loopback and plain HTTP, for the suite's local receiver; never production.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=IS_TEST)
if IS_PRODUCTION and WEBHOOKS_ALLOW_PRIVATE_TARGETS:
    raise ImproperlyConfigured("WEBHOOKS_ALLOW_PRIVATE_TARGETS cannot be on in production")

CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "webhooks.tasks.deliveries_sweep",
    "schedule": WEBHOOKS_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["webhooks-purge-daily"] = {
    "task": "webhooks.tasks.webhooks_purge",
    "schedule": 24 * 3600,
}
