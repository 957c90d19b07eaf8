"""Signed-in sessions end after SESSION_IDLE_TIMEOUT_MINUTES without a request, and at the
latest SESSION_COOKIE_AGE after sign-in, whatever the browser sends.

Enforced on the server twice over: each touch (at most once a minute, to spare the session
table a write per request) moves the session row's own expiry to the idle deadline, so the
store no longer loads an idle session; and the time of the last touch is kept in the session
and checked on every request, which also holds for stores that ignore expiry dates.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

LAST_SEEN_KEY = "_portal_last_seen"
STARTED_KEY = "_portal_started"
TOUCH_INTERVAL_SECONDS = 60


class SessionIdleTimeoutMiddleware:
    """Goes right after SessionMiddleware, before anything reads ``request.user``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        idle = int(settings.SESSION_IDLE_TIMEOUT_MINUTES) * 60
        session = request.session
        if idle > 0 and SESSION_KEY in session:
            now = int(time.time())
            last_seen = session.get(LAST_SEEN_KEY, now)
            started = session.setdefault(STARTED_KEY, now)
            if now - last_seen > idle or now - started > settings.SESSION_COOKIE_AGE:
                # Deletes the row and starts an empty, anonymous session.
                session.flush()
            elif now - last_seen >= TOUCH_INTERVAL_SECONDS or LAST_SEEN_KEY not in session:
                session[LAST_SEEN_KEY] = now
                remaining = settings.SESSION_COOKIE_AGE - (now - started)
                session.set_expiry(max(1, min(idle, remaining)))
        return self.get_response(request)
