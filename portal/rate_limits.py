"""Fixed-window request counters in the Django cache (Redis in production and CI): how many
requests one subject (a client address, a link, an API key) made in the current window, how many
it has left, and how long it must wait once over its limit.

Each window is its own key (the subject and the window's number), counted with an increment,
which Redis does atomically: concurrent requests never lose a count, and the key expires by
itself shortly after its window ends. On Redis a count costs one round trip (INCR; the window's
first count also sets the key's lifetime); other caches use ``add`` then ``incr``. The wait is
exact: the whole seconds left in the current window (rounded up), for ``Retry-After`` and
``RateLimit-Reset`` headers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


@dataclass(frozen=True)
class RateLimit:
    name: str  # the counter's family, part of every key
    limit: int  # requests allowed per window
    window_seconds: int


@dataclass(frozen=True)
class RateCount:
    """One subject's count in the current window, this request included."""

    limit: int
    count: int
    reset: int  # whole seconds until the window ends, at least 1

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


def _redis_client() -> tuple[RedisCache, Any] | None:
    """The cache's Redis client, kept on the backend (Django's cache builds a new client object
    on every call), or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = getattr(backend, "_rate_limits_client", None)
    if client is None:
        client = backend._cache.get_client(None, write=True)
        backend._rate_limits_client = client  # type: ignore[attr-defined]
    return backend, client


def _incr(key: str, timeout: int) -> int:
    redis = _redis_client()
    if redis is not None:
        backend, client = redis
        full = backend.make_and_validate_key(key)
        count = int(client.incr(full))
        if count == 1:  # the window's first count gives the key its lifetime
            client.expire(full, timeout)
        return count
    cache.add(key, 0, timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


def rate_limit_count(rate: RateLimit, subject: str, *, now: float | None = None) -> RateCount:
    """Count one request of ``subject`` and say where it stands in the current window."""
    now = time.time() if now is None else now
    window = max(rate.window_seconds, 1)
    number = int(now // window)
    count = _incr(f"rate:{rate.name}:{subject}:{number}", window + 1)
    reset = max(math.ceil((number + 1) * window - now), 1)
    return RateCount(limit=rate.limit, count=count, reset=reset)


def rate_limit_hit(rate: RateLimit, subject: str, *, now: float | None = None) -> int | None:
    """Count one request of ``subject``. None while it is within the limit; once over it, the
    seconds until the window ends (at least 1)."""
    counted = rate_limit_count(rate, subject, now=now)
    return counted.reset if counted.exceeded else None
