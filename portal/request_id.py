"""Request IDs: every response (portal pages, the API, the admin, the merchant API) carries
``X-Request-ID``, and every log line written while the request is answered names it.

The ID is the request's own ``X-Request-ID`` when it is one (1 to 200 characters of
``A-Z a-z 0-9 . _ : -``: what proxies and clients send, and nothing that could forge a log line),
else a new UUID4 in hex. It lives in a context variable for the request's duration;
``RequestIdLogFilter`` (on the log handlers, ``portal/settings/logging.py``) writes it into every
record as ``request_id`` ("-" outside a request).

Celery tasks the request queues carry it too: a task published while a request is answered gets
it as a message header (``before_task_publish``), an outbox message keeps it in its row
(``OutboxMessage.request_id``) for a publish after the commit or by the relay, and the worker sets
it for the task's own log lines (``task_prerun``, cleared at ``task_postrun``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# The Celery message header that carries the ID to a worker.
TASK_HEADER = "portal_request_id"
MAX_LENGTH = 200
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,200}")

_current: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    """The ID of the request (or task) being handled, "" outside one."""
    return _current.get()


def request_id_from(raw: str | None) -> str:
    """The client's ID when it is valid, else a new one."""
    if raw and _VALID.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the middleware (for the merchant API too): the ID is known before anything logs,
    and every response, an error page included, carries it.

    The ID stays set until the response is closed (``request_finished``): Django logs a 4xx or
    5xx answer ("Not Found: /...") after the middleware has returned."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_from(request.META.get(META_KEY))
        request.request_id = request_id  # type: ignore[attr-defined]
        _current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="portal-request-id-clear")
def _request_finished(**_kwargs: Any) -> None:
    _current.set("")


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every record (keeps every record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True


# --- Celery --------------------------------------------------------------------------------------


@before_task_publish.connect(weak=False)
def _publish_with_request_id(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    """A task published while a request is answered carries its ID (unless the publisher, the
    outbox, already set the one it kept)."""
    request_id = _current.get()
    if headers is not None and request_id and not headers.get(TASK_HEADER):
        headers[TASK_HEADER] = request_id


def _task_request_id(task: Any) -> str:
    context = getattr(task, "request", None)
    value = getattr(context, TASK_HEADER, None)
    if not value:
        value = (getattr(context, "headers", None) or {}).get(TASK_HEADER)
    return value if isinstance(value, str) and _VALID.fullmatch(value) else ""


_task_tokens: dict[str, Any] = {}


@task_prerun.connect(weak=False)
def _task_starts(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    # A task run eagerly inside a request has no message: it keeps the request's ID.
    _task_tokens[task_id] = _current.set(_task_request_id(task) or _current.get())


@task_postrun.connect(weak=False)
def _task_ends(task_id: str = "", **_kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # set in another context (a task run eagerly in a thread)
            _current.set("")
