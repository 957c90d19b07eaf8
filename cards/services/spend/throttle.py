"""Limits against guessing codes at the merchant API, counted in the cache (Redis) per fixed
window, so every web process and machine shares one count.

Two kinds of counts:

- requests of any kind per key, per merchant and per client address
  (``MERCHANT_RATE_*``, per ``MERCHANT_RATE_WINDOW_SECONDS``): a DRF throttle of the views;
- failed card look-ups (a code that finds no usable card) per key, merchant, address and code
  prefix (``MERCHANT_FAILURES_*``, per ``MERCHANT_FAILURE_WINDOW_SECONDS``): past a limit, look-ups
  wait for the next window; and a burst of failures by one key (``MERCHANT_FREEZE_FAILURES``
  within ``MERCHANT_FREEZE_WINDOW_SECONDS``) freezes it.

Windows are aligned on the clock (window n covers [n*W, (n+1)*W) seconds since the epoch), so
the wait until the next one is the ``Retry-After`` the API answers, with no per-key timers. The
prefix of a code is kept only as a keyed digest: the cache never holds anything of a code.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from cards.codes import typed_symbols
from cards.models import MerchantApiKey


class LimitReached(Exception):
    """Too many requests or failed look-ups: try again in ``retry_after`` seconds."""

    def __init__(self, *, retry_after: int, limit: str) -> None:
        super().__init__(limit)
        self.retry_after = retry_after
        self.limit = limit


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
    return _incr_and_get(names, timeout, [])[0]


def _incr_and_get(names: list[str], timeout: int, reads: list[str]) -> tuple[list[int], list[int]]:
    """Add one to each of ``names`` (created at 1) and read ``reads`` (0 for a missing one): the
    new counts and the values read, in one round trip on Redis."""
    redis = _redis()
    if redis is not None:
        backend, client = redis
        pipe = client.pipeline(transaction=False)
        for name in names:
            full = backend.make_and_validate_key(name)
            pipe.incr(full)
            pipe.expire(full, timeout)
        if reads:
            pipe.mget([backend.make_and_validate_key(name) for name in reads])
        answers = pipe.execute()
        counts = [int(value) for value in answers[: 2 * len(names) : 2]]
        values = [int(value or 0) for value in answers[-1]] if reads else []
        return counts, values
    return _incr_in_cache(names, timeout), (_get_many(reads) if reads else [])


def _incr_in_cache(names: list[str], timeout: int) -> list[int]:
    counts = []
    for name in names:
        cache.add(name, 0, timeout)
        try:
            counts.append(int(cache.incr(name)))
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout)
            counts.append(1)
    return counts


def _get_many(names: list[str]) -> list[int]:
    """The counters' values (0 for a missing one), in one round trip."""
    redis = _redis()
    if redis is not None:
        backend, client = redis
        values = client.mget([backend.make_and_validate_key(name) for name in names])
        return [int(value or 0) for value in values]
    found = cache.get_many(names)
    return [int(found.get(name) or 0) for name in names]


def _set(name: str, value: int, timeout: int) -> None:
    redis = _redis()
    if redis is not None:
        backend, client = redis
        client.set(backend.make_and_validate_key(name), value, ex=timeout)
    else:
        cache.set(name, value, timeout)


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


def request_admit(
    *, key: MerchantApiKey, ip: str | None, lookup: bool = False, code: object = ""
) -> None:
    """Count one request of this key, its merchant and this address; LimitReached past a limit.
    For a request that looks a card up (``lookup``, with the ``code`` as typed), the same round
    trip reads the failed look-up counters too, and LimitReached where ``failures_admit`` would
    refuse: the caller then looks the card up with ``admitted=True``."""
    seconds = int(settings.MERCHANT_RATE_WINDOW_SECONDS)
    window = _window(seconds)
    checks = [
        ("key", key.pk, int(settings.MERCHANT_RATE_PER_KEY)),
        ("merchant", key.merchant_id, int(settings.MERCHANT_RATE_PER_MERCHANT)),
        ("ip", ip or "unknown", int(settings.MERCHANT_RATE_PER_IP)),
    ]
    failures: list[tuple[str, str, int]] = []
    failure_window = _window(int(settings.MERCHANT_FAILURE_WINDOW_SECONDS))
    if lookup:
        failures = _failure_names(
            key_prefix=key.prefix,
            merchant_id=key.merchant_id,
            ip=ip,
            prefix=code_prefix(code) if isinstance(code, str) else "",
            index=failure_window.index,
        )
    blocked = _blocked_name(key.prefix, failure_window.index)
    counts, values = _incr_and_get(
        [_name("rate", dimension, ident, window.index) for dimension, ident, _limit in checks],
        seconds + 5,
        [blocked, *(name for name, _dimension, _limit in failures)] if failures else [],
    )
    for (dimension, _ident, limit), count in zip(checks, counts, strict=True):
        if count > limit:
            raise LimitReached(retry_after=window.retry_after, limit=dimension)
    if failures:
        _failures_refuse(failures, values, blocked=blocked, window=failure_window)


def _failure_names(
    *, key_prefix: str, merchant_id: int | None, ip: str | None, prefix: str, index: int
) -> list[tuple[str, str, int]]:
    """The failure counters that apply, with their dimension and limit. A key is counted by its
    prefix (unique, and readable from the request before the key is looked up)."""
    names = [
        (
            _name("fail", "key", key_prefix, index),
            "key",
            int(settings.MERCHANT_FAILURES_PER_KEY),
        ),
        (_name("fail", "ip", ip or "unknown", index), "ip", int(settings.MERCHANT_FAILURES_PER_IP)),
    ]
    if merchant_id is not None:
        names.append(
            (
                _name("fail", "merchant", merchant_id, index),
                "merchant",
                int(settings.MERCHANT_FAILURES_PER_MERCHANT),
            )
        )
    if prefix:
        names.append(
            (
                _name("fail", "code", prefix, index),
                "code",
                int(settings.MERCHANT_FAILURES_PER_CODE_PREFIX),
            )
        )
    return names


def _blocked_name(key_prefix: str, index: int) -> str:
    return _name("blocked", "key", key_prefix, index)


def _failures_refuse(
    names: list[tuple[str, str, int]], values: list[int], *, blocked: str, window: _Window
) -> None:
    """``failures_admit``'s answer from counters already read (``values``: the key's blocked
    mark, then ``names``' counts)."""
    if values[0]:
        raise LimitReached(retry_after=window.retry_after, limit="merchant")
    for (_counter, dimension, limit), count in zip(names, values[1:], strict=True):
        if count >= limit:
            if dimension == "merchant":
                _set(blocked, 1, window.retry_after + 1)
            raise LimitReached(retry_after=window.retry_after, limit=dimension)


def failures_admit(*, key: MerchantApiKey, ip: str | None, prefix: str) -> None:
    """LimitReached when this key, its merchant, this address or this code prefix has failed
    as many look-ups as allowed in the current window (one read of the cache). A key held back
    by its merchant's count is marked, so its next requests stop at the first counter read."""
    window = _window(int(settings.MERCHANT_FAILURE_WINDOW_SECONDS))
    names = _failure_names(
        key_prefix=key.prefix, merchant_id=key.merchant_id, ip=ip, prefix=prefix, index=window.index
    )
    blocked = _blocked_name(key.prefix, window.index)
    values = _get_many([blocked, *(name for name, _dimension, _limit in names)])
    _failures_refuse(names, values, blocked=blocked, window=window)


def failure_count(*, key: MerchantApiKey, ip: str | None, prefix: str) -> int:
    """Count one failed look-up everywhere it counts; returns the key's failures in the current
    burst window (the caller freezes the key at ``MERCHANT_FREEZE_FAILURES``)."""
    seconds = int(settings.MERCHANT_FAILURE_WINDOW_SECONDS)
    window = _window(seconds)
    burst_seconds = int(settings.MERCHANT_FREEZE_WINDOW_SECONDS)
    burst = _name("burst", "key", key.prefix, _window(burst_seconds).index)
    names = [
        name
        for name, _dimension, _limit in _failure_names(
            key_prefix=key.prefix,
            merchant_id=key.merchant_id,
            ip=ip,
            prefix=prefix,
            index=window.index,
        )
    ]
    counts = _incr_many([*names, burst], max(seconds, burst_seconds) + 5)
    return counts[-1]
