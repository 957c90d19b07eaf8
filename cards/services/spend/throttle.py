"""Limits against guessing codes at the merchant API, counted in the cache (Redis) per fixed
window, so every web process and machine shares one count.

Two kinds of counts:

- requests of any kind per key, per merchant and per client address
  (``MERCHANT_RATE_*``, per ``MERCHANT_RATE_WINDOW_SECONDS``): a DRF throttle of the views;
- failed card look-ups (a code that finds no usable card) per key, merchant, address and code
  prefix (``MERCHANT_FAILURES_*``, per ``MERCHANT_FAILURE_WINDOW_SECONDS``), counted when a
  look-up fails. The failure that reaches a limit blocks its subject until the window ends: a
  ``LookupBlock`` row, which every look-up reads in the very statement that finds the card
  (``spend.lookup``), so a look-up pays no round trip for its limits. A burst of failures by one
  key (``MERCHANT_FREEZE_FAILURES`` within ``MERCHANT_FREEZE_WINDOW_SECONDS``) freezes it.

Windows are aligned on the clock (window n covers [n*W, (n+1)*W) seconds since the epoch), so
the wait until the next one is the ``Retry-After`` the API answers, with no per-key timers. The
prefix of a code is kept only as a keyed digest: neither the cache nor a block holds anything of
a code.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from cards.codes import typed_symbols
from cards.models import LookupBlock, MerchantApiKey


class LimitReached(Exception):
    """Too many requests or failed look-ups: try again in ``retry_after`` seconds."""

    def __init__(self, *, retry_after: int, limit: str) -> None:
        super().__init__(limit)
        self.retry_after = retry_after
        self.limit = limit
        self.standing: Standing | None = None  # set by request_admit


@dataclass(frozen=True)
class _Window:
    index: int
    retry_after: int  # seconds until the next window starts, at least 1


def _window(seconds: int) -> _Window:
    now = time.time()
    index = int(now // seconds)
    return _Window(index=index, retry_after=max(1, int((index + 1) * seconds - now + 0.999)))


def _name(kind: str, dimension: str, ident: object, index: int) -> str:
    return f"{settings.MERCHANT_THROTTLE_NAMESPACE}:{kind}:{dimension}:{ident}:{index}"


def _redis() -> tuple[RedisCache, Any] | None:
    """The cache's Redis client, made once per cache connection (Django's cache builds a new
    client object for every call, which costs more than the round trip), or None when the
    cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = getattr(backend, "_merchant_limits_client", None)
    if client is None:
        client = backend._cache.get_client(None, write=True)
        backend._merchant_limits_client = client  # type: ignore[attr-defined]
    return backend, client


def _incr_many(names: list[str], timeout: int) -> list[int]:
    """Add one to each counter (created at 1), in one round trip on Redis."""
    redis = _redis()
    if redis is not None:
        backend, client = redis
        full = [backend.make_and_validate_key(name) for name in names]
        pipe = client.pipeline(transaction=False)
        for key in full:
            pipe.incr(key)
        counts = [int(value) for value in pipe.execute()]
        # A counter's first count gives it its lifetime: once per window, not on every request.
        # (A counter's name carries its window: one left without a lifetime, should this second
        # step fail, is never read again.)
        fresh = [key for key, count in zip(full, counts, strict=True) if count == 1]
        if fresh:
            pipe = client.pipeline(transaction=False)
            for key in fresh:
                pipe.expire(key, timeout)
            pipe.execute()
        return counts
    counts = []
    for name in names:
        cache.add(name, 0, timeout)
        try:
            counts.append(int(cache.incr(name)))
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout)
            counts.append(1)
    return counts


def code_prefix(typed: str) -> str:
    """A keyed digest of the first ``MERCHANT_CODE_PREFIX_SYMBOLS`` symbols of a typed code, or
    "" when it is shorter than that."""
    symbols = typed_symbols(typed)[: settings.MERCHANT_CODE_PREFIX_SYMBOLS]
    if len(symbols) < settings.MERCHANT_CODE_PREFIX_SYMBOLS:
        return ""
    pepper = settings.CARD_CODE_PEPPER.encode()
    return hmac.new(
        pepper, b"merchant-code-prefix:" + symbols.encode(), hashlib.sha256
    ).hexdigest()[:32]


@dataclass(frozen=True)
class Standing:
    """Where a request leaves the tightest of its request limits (for the RateLimit-* headers,
    read from the counts ``request_admit`` makes anyway: no extra round trip)."""

    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    window_seconds: int


def request_admit(*, key: MerchantApiKey, ip: str | None) -> Standing:
    """Count one request of this key, its merchant and this address; LimitReached past a limit
    (its ``standing`` set), else the tightest limit's standing."""
    seconds = int(settings.MERCHANT_RATE_WINDOW_SECONDS)
    window = _window(seconds)
    checks = [
        ("key", key.pk, int(settings.MERCHANT_RATE_PER_KEY)),
        ("merchant", key.merchant_id, int(settings.MERCHANT_RATE_PER_MERCHANT)),
        ("ip", ip or "unknown", int(settings.MERCHANT_RATE_PER_IP)),
    ]
    counts = _incr_many(
        [_name("rate", dimension, ident, window.index) for dimension, ident, _limit in checks],
        seconds + 5,
    )
    tightest = min(zip(checks, counts, strict=True), key=lambda pair: pair[0][2] - pair[1])
    (dimension, _ident, limit), count = tightest
    standing = Standing(
        limit=limit,
        remaining=max(limit - count, 0),
        reset=window.retry_after,
        window_seconds=seconds,
    )
    if count > limit:
        reached = LimitReached(retry_after=window.retry_after, limit=dimension)
        reached.standing = standing
        raise reached
    return standing


def _failure_counters(
    *, key: MerchantApiKey, ip: str | None, prefix: str, index: int
) -> list[tuple[str, str, int]]:
    """The failure counters that apply to a look-up: (counter, the subject it blocks, limit).
    A key is counted by its prefix (unique, and what operators see)."""
    address = ip or "unknown"
    counters = [
        (
            _name("fail", "key", key.prefix, index),
            f"key:{key.prefix}",
            int(settings.MERCHANT_FAILURES_PER_KEY),
        ),
        (
            _name("fail", "merchant", key.merchant_id, index),
            f"merchant:{key.merchant_id}",
            int(settings.MERCHANT_FAILURES_PER_MERCHANT),
        ),
        (
            _name("fail", "ip", address, index),
            f"ip:{address}",
            int(settings.MERCHANT_FAILURES_PER_IP),
        ),
    ]
    if prefix:
        counters.append(
            (
                _name("fail", "code", prefix, index),
                f"code:{prefix}",
                int(settings.MERCHANT_FAILURES_PER_CODE_PREFIX),
            )
        )
    return counters


def block_subjects(*, key: MerchantApiKey, ip: str | None, prefix: str) -> list[str]:
    """The subjects a look-up of this key, from this address, of a code with this prefix, is
    held back by when one of them is blocked (those of ``_failure_counters``)."""
    subjects = [f"key:{key.prefix}", f"merchant:{key.merchant_id}", f"ip:{ip or 'unknown'}"]
    if prefix:
        subjects.append(f"code:{prefix}")
    return subjects


def retry_after(until: datetime.datetime, *, now: datetime.datetime | None = None) -> int:
    """Whole seconds until a block ends, at least 1."""
    left = (until - (now or timezone.now())).total_seconds()
    return max(1, math.ceil(left))


def failure_count(*, key: MerchantApiKey, ip: str | None, prefix: str) -> int:
    """Count one failed look-up everywhere it counts, block each subject that has reached its
    limit until the window ends, and return the key's failures in the current burst window (the
    caller freezes the key at ``MERCHANT_FREEZE_FAILURES``). Call it in the failure's
    transaction: the blocks commit with the failure's record."""
    seconds = int(settings.MERCHANT_FAILURE_WINDOW_SECONDS)
    window = _window(seconds)
    burst_seconds = int(settings.MERCHANT_FREEZE_WINDOW_SECONDS)
    burst = _name("burst", "key", key.prefix, _window(burst_seconds).index)
    counters = _failure_counters(key=key, ip=ip, prefix=prefix, index=window.index)
    counts = _incr_many(
        [*(counter for counter, _subject, _limit in counters), burst],
        max(seconds, burst_seconds) + 5,
    )
    until = datetime.datetime.fromtimestamp((window.index + 1) * seconds, tz=datetime.UTC)
    reached = [
        LookupBlock(subject=subject, until=until)
        for (_counter, subject, limit), count in zip(counters, counts, strict=False)
        if count >= limit
    ]
    if reached:
        LookupBlock.objects.bulk_create(
            reached, update_conflicts=True, unique_fields=["subject"], update_fields=["until"]
        )
    return counts[-1]


def blocks_sweep(*, now: datetime.datetime | None = None) -> int:
    """Delete the blocks that have ended; returns how many."""
    deleted, _by_model = LookupBlock.objects.filter(until__lte=now or timezone.now()).delete()
    return deleted
