"""Card spend at merchants (the merchant API, cards/services/spend/): holds, the void window, and
the limits against guessing codes. Read after ``celery`` (it adds the hold sweep to the beat
schedule)."""

from __future__ import annotations

from .base import env
from .celery import CELERY_BEAT_SCHEDULE

# --- Holds and voids -----------------------------------------------------------------------------

# A hold (authorisation) that is neither captured nor released ends by itself after this long.
MERCHANT_HOLD_MINUTES = env.int("MERCHANT_HOLD_MINUTES", default=15)
# How often Celery beat releases holds past their end (a capture after the end is refused anyway).
MERCHANT_HOLD_SWEEP_SECONDS = env.int("MERCHANT_HOLD_SWEEP_SECONDS", default=60)
# A merchant may void its own redemption for this many minutes after it; 0 means until the end
# of the redemption's day (Asia/Shanghai).
MERCHANT_VOID_WINDOW_MINUTES = env.int("MERCHANT_VOID_WINDOW_MINUTES", default=0)

# Expense matching (expenses/services/matching.py): a claim's expense date and the day of the card
# spend it is matched to (Asia/Shanghai) may differ by this many days.
EXPENSE_MATCH_DAYS = env.int("EXPENSE_MATCH_DAYS", default=3)

# --- Limits (counted in the cache, per fixed window; answered 429 with Retry-After) --------------

# Requests of any kind to the merchant API, per window, per key, per merchant and per address.
MERCHANT_RATE_WINDOW_SECONDS = env.int("MERCHANT_RATE_WINDOW_SECONDS", default=60)
MERCHANT_RATE_PER_KEY = env.int("MERCHANT_RATE_PER_KEY", default=1200)
MERCHANT_RATE_PER_MERCHANT = env.int("MERCHANT_RATE_PER_MERCHANT", default=6000)
MERCHANT_RATE_PER_IP = env.int("MERCHANT_RATE_PER_IP", default=1200)
# Failed card look-ups (any code that finds no usable card) per window: past a limit, look-ups
# from that key, merchant or address, or of codes starting like that one, wait for the next
# window. A legitimate checkout fails a few times an hour (typos); a guesser thousands.
MERCHANT_FAILURE_WINDOW_SECONDS = env.int("MERCHANT_FAILURE_WINDOW_SECONDS", default=3600)
MERCHANT_FAILURES_PER_KEY = env.int("MERCHANT_FAILURES_PER_KEY", default=100)
MERCHANT_FAILURES_PER_MERCHANT = env.int("MERCHANT_FAILURES_PER_MERCHANT", default=300)
MERCHANT_FAILURES_PER_IP = env.int("MERCHANT_FAILURES_PER_IP", default=60)
MERCHANT_FAILURES_PER_CODE_PREFIX = env.int("MERCHANT_FAILURES_PER_CODE_PREFIX", default=5)
# The symbols of a code that make its prefix: someone who knows most of one code and tries the
# rest from many keys and addresses is stopped by the prefix's count.
MERCHANT_CODE_PREFIX_SYMBOLS = env.int("MERCHANT_CODE_PREFIX_SYMBOLS", default=12)
# A burst of failures freezes the key (until an operator unfreezes it) and alerts the operators:
# this many failed look-ups by one key within this many seconds.
MERCHANT_FREEZE_FAILURES = env.int("MERCHANT_FREEZE_FAILURES", default=30)
MERCHANT_FREEZE_WINDOW_SECONDS = env.int("MERCHANT_FREEZE_WINDOW_SECONDS", default=60)
# The cache keys' namespace (tests give each test its own).
MERCHANT_THROTTLE_NAMESPACE = env.str("MERCHANT_THROTTLE_NAMESPACE", default="merchant-limits")

CELERY_BEAT_SCHEDULE["merchant-holds-expire"] = {
    "task": "cards.tasks.merchant_holds_expire",
    "schedule": MERCHANT_HOLD_SWEEP_SECONDS,
}
