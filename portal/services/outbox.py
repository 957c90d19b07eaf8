"""The transactional outbox: follow-ups of state changes that survive a broker outage.

A service that changes money or an order's state, and needs a Celery task to follow, calls::

    from portal.services.outbox import outbox_enqueue

    outbox_enqueue(order_start_fulfilment, order.pk)            # a task object
    outbox_enqueue("cards.tasks.order_notify_approvers", order.pk)  # or its name
    outbox_enqueue(credit_hold_notify, hold.pk, "placed", queue="default")
    outbox_enqueue(statement_build, kwargs={"statement_id": statement.pk})

inside its transaction (instead of ``task.delay_on_commit(...)``). The call writes one
``OutboxMessage`` row in the caller's transaction, so the follow-up exists exactly when the change
does: a rolled-back change publishes nothing. Once the transaction commits, the message is
published at once, with a bounded connect and no retries; if the broker is away, the failure is
logged (the error's class name only) and the request answers normally. The relay
(``outbox_relay``, run by Celery beat every ``OUTBOX_RELAY_SECONDS``) publishes whatever is still
unpublished, counting attempts, until it goes through.

Rules for callers: arguments are ids and short codes (ints and strings), never secrets or row
data; the task must be idempotent, because a message can be published twice (a crash between the
publish and the row's update); results are not kept (fire and forget). The message keeps the
X-Request-ID of the request that queued it, and its task logs under that ID
(``portal.request_id``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from celery import Task, current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu import pools
from kombu.exceptions import OperationalError

from portal.models import OutboxMessage
from portal.request_id import TASK_HEADER, current_request_id

logger = logging.getLogger(__name__)

# Published rows older than this are deleted by the relay: they only help to explain a recent
# incident.
PUBLISHED_KEEP_DAYS = 7
RELAY_BATCH = 500


def outbox_enqueue(
    task: Task | str,
    *args: int | str,
    queue: str = "",
    kwargs: Mapping[str, int | str | None] | None = None,
) -> OutboxMessage:
    """Record that ``task(*args, **kwargs)`` must run once the current transaction commits, and
    publish it right after the commit (or leave it to the relay if the broker is away).
    ``queue`` overrides the task's route (``portal/celery.py``); empty means the usual route.
    Arguments are ids and short codes (``kwargs`` for keyword-only tasks)."""
    name = task if isinstance(task, str) else task.name
    if not _task_exists(name):
        raise ValueError(f"outbox: no Celery task is called {name!r}")
    keywords = dict(kwargs or {})
    for arg in [*args, *keywords.values()]:
        _check_argument(arg)
    message = OutboxMessage.objects.create(
        task=name,
        args=list(args),
        kwargs=keywords,
        queue=queue,
        request_id=current_request_id(),
    )
    transaction.on_commit(partial(publish_after_commit, message.pk), robust=True)
    return message


def _check_argument(arg: object) -> None:
    if arg is None:
        return
    if isinstance(arg, bool) or not isinstance(arg, int | str):
        raise TypeError(f"outbox: task arguments are ids or short codes, not {type(arg)}")
    if isinstance(arg, str) and len(arg) > 100:
        raise ValueError("outbox: a string argument is a short code, at most 100 characters")


def _task_exists(name: str) -> bool:
    if name in current_app.tasks:
        return True
    # Outside a worker, the apps' tasks modules are imported on first need.
    current_app.loader.import_default_modules()
    return name in current_app.tasks


def publish_after_commit(message_id: int) -> None:
    """The on-commit callback ``outbox_enqueue`` registers: publish now, or leave it to the
    relay."""
    try:
        outbox_publish(ids=[message_id])
    except Exception as exc:  # noqa: BLE001 - the change is committed; the relay publishes later
        logger.warning(
            "outbox: message %s not published after commit (%s); the relay will retry",
            message_id,
            type(exc).__name__,
        )


def _connections() -> Any:
    """This process's pool of outbox connections to the broker (one pool per broker URL and
    options; kombu empties it in a forked child). Connecting, and each socket operation, give
    up after ``OUTBOX_PUBLISH_TIMEOUT`` seconds."""
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    template = current_app.connection_for_write(
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
    )
    return pools.connections[template]


@contextmanager
def broker_connection() -> Iterator[Any]:
    """A connection to the broker, connected now with a bounded wait (one quick retry, never the
    long reconnect loops a worker uses). A connection that failed is closed, not reused."""
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    with _connections().acquire(block=True, timeout=timeout) as connection:
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            yield connection
        except BaseException:
            connection.collect()
            raise


def _send(producer: Any, message: OutboxMessage) -> None:
    options: dict[str, Any] = {}
    if message.queue:
        options["queue"] = message.queue
    if message.request_id:
        # The request that queued it, not the one (or the relay) that happens to publish it.
        options["headers"] = {TASK_HEADER: message.request_id}
    current_app.send_task(
        message.task,
        args=list(message.args),
        kwargs=dict(message.kwargs or {}),
        producer=producer,
        retry=False,
        # Nobody reads these results; subscribing to one would wait on the result backend.
        ignore_result=True,
        **options,
    )


def _broker_down(exc: BaseException, connection: Any) -> bool:
    errors = (OperationalError, OSError, *connection.connection_errors)
    return isinstance(exc, errors)


def outbox_publish(*, ids: Iterable[int] | None = None, limit: int = RELAY_BATCH) -> int:
    """Publish unpublished messages (these ids, or the oldest ``limit``) and mark them published;
    returns how many went out. Rows are locked (SKIP LOCKED), so the publish after commit and
    the relay never send one message twice. A broker that is away stops the run at the first
    failure, which is counted on its row."""
    with transaction.atomic():
        pending = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            published_at__isnull=True
        )
        if ids is not None:
            pending = pending.filter(pk__in=list(ids))
        messages = list(pending.order_by("pk")[:limit])
        if not messages:
            return 0
        return _publish_locked(messages)


def _publish_locked(messages: Sequence[OutboxMessage]) -> int:
    published: list[int] = []
    failed: dict[int, str] = {}
    try:
        with broker_connection() as connection:
            producer = current_app.amqp.Producer(connection, auto_declare=False)
            for message in messages:
                try:
                    _send(producer, message)
                except Exception as exc:
                    if _broker_down(exc, connection):
                        raise
                    failed[message.pk] = type(exc).__name__  # this message only
                else:
                    published.append(message.pk)
    except Exception as exc:  # noqa: BLE001 - broker away: recorded, the relay retries
        done = set(published) | set(failed)
        unsent = next((m for m in messages if m.pk not in done), None)
        if unsent is not None:
            failed[unsent.pk] = type(exc).__name__
    now = timezone.now()
    if published:
        OutboxMessage.objects.filter(pk__in=published).update(
            published_at=now, attempts=F("attempts") + 1, last_attempt_at=now, last_error=""
        )
    for message in messages:
        if message.pk in failed:
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") + 1, last_attempt_at=now, last_error=failed[message.pk]
            )
            logger.warning(
                "outbox: publishing %s (message %s, attempt %s) failed: %s; the relay retries",
                message.task,
                message.pk,
                message.attempts + 1,
                failed[message.pk],
            )
    return len(published)


def outbox_relay() -> int:
    """Publish what is still unpublished (the relay's periodic run), batch after batch while
    the broker takes them; forget published messages after a week. Returns how many went
    out."""
    total = 0
    while True:
        sent = outbox_publish(limit=RELAY_BATCH)
        total += sent
        if sent < RELAY_BATCH:
            break
    cutoff = timezone.now() - datetime.timedelta(days=PUBLISHED_KEEP_DAYS)
    OutboxMessage.objects.filter(published_at__lt=cutoff).delete()
    if total:
        logger.info("outbox relay: published %s message(s)", total)
    return total
