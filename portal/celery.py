"""The Celery app. Task messages are JSON only (no pickle), carry ids never secrets, and go to one
of three queues: ``codes`` (card-code generation), ``statements`` and ``default``."""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    # One direct exchange per queue, so a message routed to one queue lands only there.
    task_queues=[
        Queue(name, Exchange(name, type="direct"), routing_key=name)
        for name in ("default", "codes", "statements")
    ],
    task_default_queue="default",
    task_default_exchange="default",
    task_default_routing_key="default",
    task_routes={
        "cards.tasks.issuance_*": {"queue": "codes"},
        "billing.tasks.statement_*": {"queue": "statements"},
    },
    # Tasks are written to be idempotent, so a message is acknowledged only once its work is done
    # and is redelivered if the worker dies half-way.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    result_expires=24 * 3600,
    task_track_started=True,
    timezone="Asia/Shanghai",
    enable_utc=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()
