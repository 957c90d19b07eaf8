"""Card spend at merchants: what the merchant API (``cards.api.merchant``) calls, and what a
benchmark or a test calls in-process without HTTP.

- ``keys``: merchants and their API keys (create, revoke, freeze, unfreeze, authenticate);
- ``lookup``: finding a card by a typed code, the one failure answer, canary cards;
- ``throttle``: the limits against guessing, in the cache;
- ``redemptions``: redeem, refund, void a redemption;
- ``holds``: hold, capture, release, and the expiry of holds;
- ``common``: refusals, idempotency keys and the ledger entries they share.
"""

from __future__ import annotations

from cards.services.spend.common import (
    IdempotencyKeyReused,
    InsufficientBalance,
    SpendResult,
)
from cards.services.spend.holds import (
    HoldExpired,
    card_holds_release,
    hold_capture,
    hold_create,
    hold_release,
    holds_expire,
)
from cards.services.spend.keys import (
    merchant_key_authenticate,
    merchant_key_create,
    merchant_key_freeze,
    merchant_key_revoke,
    merchant_key_unfreeze,
    merchant_save,
)
from cards.services.spend.lookup import (
    CardUnavailable,
    SandboxCardRefused,
    canary_mark,
    card_find,
    card_look_up,
)
from cards.services.spend.redemptions import redemption_create
from cards.services.spend.returns import redemption_void, refund_create
from cards.services.spend.throttle import LimitReached

__all__ = [
    "CardUnavailable",
    "HoldExpired",
    "IdempotencyKeyReused",
    "InsufficientBalance",
    "LimitReached",
    "SandboxCardRefused",
    "SpendResult",
    "canary_mark",
    "card_find",
    "card_holds_release",
    "card_look_up",
    "hold_capture",
    "hold_create",
    "hold_release",
    "holds_expire",
    "merchant_key_authenticate",
    "merchant_key_create",
    "merchant_key_freeze",
    "merchant_key_revoke",
    "merchant_key_unfreeze",
    "merchant_save",
    "redemption_create",
    "redemption_void",
    "refund_create",
]
