"""Fixed-window request counters in the Django cache (Redis in production and CI): how many
requests one subject (a client address, a link) made in the current window, and how long it
must wait once over its limit.

Each window is its own key (the subject and the window's number), created with ``add`` and
counted with ``incr``, which Redis does atomically: concurrent requests never lose a count, and
the key expires by itself shortly after its window ends. The wait is exact: the seconds left
in the current window, for a ``Retry-After`` header.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class RateLimit:
    name: str  # the counter's family, part of every key
    limit: int  # requests allowed per window
    window_seconds: int


def rate_limit_hit(rate: RateLimit, subject: str, *, now: float | None = None) -> int | None:
    """Count one request of ``subject``. None while it is within the limit; once over it, the
    seconds until the window ends (at least 1)."""
    now = time.time() if now is None else now
    window = max(rate.window_seconds, 1)
    number = int(now // window)
    key = f"rate:{rate.name}:{subject}:{number}"
    cache.add(key, 0, window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window + 1)
        count = 1
    if count <= rate.limit:
        return None
    return max(int((number + 1) * window - now), 1)
