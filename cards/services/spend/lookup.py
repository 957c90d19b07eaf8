"""Finding a card by the code a checkout typed, and what a failed look-up does.

Every failure looks the same from outside: an unknown code, a wrong check symbol, another
issuer's format, something that is not a code at all, a frozen, voided or expired card, or a
canary. Each look-up costs one keyed digest and one indexed query whatever the reason (a code
that fails its check symbol is still digested, in a form no card can have, and looked up), and
the API answers each failure with the same status and body. The real reason goes to
``MerchantLookupFailure`` for operators, the failure counts toward the limits
(``spend.throttle``), and a burst of them, or any canary, freezes the key.

Test cards (a sandbox's, docs/api.md "Test mode") are the one failure told apart: their code
starts with TEST, so anyone can see what it is and saying so reveals nothing. ``SandboxCardRefused``
is raised before any query for a test code, and for a card row marked ``is_test`` (read in the
look-up's own statement); it is neither recorded nor counted as a failed look-up.

Canary cards are never sold: issuance makes them (``cards.services.issuance.
batch_canaries_create``) and keeps them out of every buyer's path, ``canary_mark`` marks existing
cards; a look-up of one freezes the key at once.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Max
from django.utils import timezone

from cards import codes
from cards.models import (
    Card,
    CardStatus,
    LookupBlock,
    LookupFailureReason,
    MerchantApiKey,
    MerchantLookupFailure,
)
from cards.services.spend import throttle
from cards.services.spend.keys import FREEZE_BURST, FREEZE_CANARY, merchant_key_freeze
from portal.db import prepared_cursor

logger = logging.getLogger(__name__)

# Anything longer is not a code, however it is spaced: not even normalised.
MAX_TYPED_LENGTH = 64
# Kept of a found card's serial in a failure record.
SERIAL_PREFIX_DIGITS = 12
# The columns a look-up reads (never the code's ciphertext).
LOOKUP_FIELDS = (
    "id",
    "serial",
    "batch_id",
    "balance",
    "held",
    "status",
    "expires_at",
    "is_canary",
    "is_test",
)
# Spent cards are still cards: a look-up answers their balance (0.00).
USABLE_STATUSES = (CardStatus.ACTIVE, CardStatus.DEPLETED)
_INVALID_REASONS = {
    "length": LookupFailureReason.FOREIGN,
    "alphabet": LookupFailureReason.FOREIGN,
    "check": LookupFailureReason.CHECK,
}
_STATUS_REASONS = {
    CardStatus.FROZEN: LookupFailureReason.FROZEN,
    CardStatus.VOIDED: LookupFailureReason.VOIDED,
    CardStatus.EXPIRED: LookupFailureReason.EXPIRED,
}


class SandboxCardRefused(Exception):
    """A test card's code (test mode): merchants never take one."""


class CardUnavailable(Exception):
    """No usable card answers to this code. ``reason`` is for operators only."""

    def __init__(self, reason: str, *, card: Card | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.card = card


def card_unusable_reason(card: Card, *, now: datetime.datetime | None = None) -> str | None:
    """Why this card cannot be used at a merchant now (a reason code), or None. Asked at the
    look-up and again under the card's lock."""
    if card.is_canary:
        return LookupFailureReason.CANARY
    if card.status in _STATUS_REASONS:
        return _STATUS_REASONS[CardStatus(card.status)]
    if card.status not in USABLE_STATUSES:
        return LookupFailureReason.UNKNOWN  # pragma: no cover - a status added later
    if card.expires_at is not None and card.expires_at <= (now or timezone.now()):
        return LookupFailureReason.EXPIRED  # past its date, before the daily task marks it
    return None


# The look-up's columns in the model's field order (``Model.from_db`` takes them so).
_LOOKUP_ATTNAMES = [f.attname for f in Card._meta.concrete_fields if f.attname in LOOKUP_FIELDS]
# One row whether or not a card has the digest: the card's columns (NULL when none), then the end
# of the latest block on any of the look-up's four subjects (NULL when none; in the past when
# every block has ended): four probes of the unique index, cheaper than one IN (...) here.
_LOOKUP_SQL = (
    'SELECT "cards_card"."id", "cards_card"."serial", "cards_card"."batch_id", '
    '"cards_card"."balance", "cards_card"."status", "cards_card"."expires_at", '
    '"cards_card"."held", "cards_card"."is_canary", "cards_card"."is_test", GREATEST('
    '(SELECT "until" FROM "cards_lookupblock" WHERE "subject" = %s), '
    '(SELECT "until" FROM "cards_lookupblock" WHERE "subject" = %s), '
    '(SELECT "until" FROM "cards_lookupblock" WHERE "subject" = %s), '
    '(SELECT "until" FROM "cards_lookupblock" WHERE "subject" = %s)) '
    'FROM (SELECT 1) AS "one" LEFT JOIN "cards_card" ON "cards_card"."digest" = %s'
)


def _card_and_block(digest: bytes, subjects: list[str]) -> tuple[Card | None, Any]:
    """The card with this digest (the unique index; its look-up columns only), and when the
    latest block on these subjects ends (None when none is blocked). On PostgreSQL one prepared
    statement (the ORM compiles a query anew on every call, about five times the cost of running
    it); elsewhere the ORM."""
    now = timezone.now()
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        until = None
        if subjects:
            until = LookupBlock.objects.filter(subject__in=subjects, until__gt=now).aggregate(
                until=Max("until")
            )["until"]
        found = Card.objects.filter(digest=digest).order_by().only(*LOOKUP_FIELDS).first()
        return found, until
    with prepared_cursor() as cursor:
        # Four subjects at most (block_subjects); "" is no subject. Plain parameters: a list
        # would be sent as an array, which costs more to encode than the rest of the query.
        cursor.execute(_LOOKUP_SQL, [*[*subjects, "", "", "", ""][:4], digest])
        row = cursor.fetchone()
    card = None if row[0] is None else Card.from_db(db.alias, _LOOKUP_ATTNAMES, row[:-1])
    until = row[-1]
    return card, until if until is not None and until > now else None


def card_find(*, code: object, subjects: list[str] | None = None) -> Card:
    """The usable card with this code, or CardUnavailable with the real reason; LimitReached
    when one of ``subjects`` (``throttle.block_subjects``) is blocked, whatever the code. One
    digest and one indexed query, whatever the code."""
    reason: str | None = None
    typed = code if isinstance(code, str) else ""
    if not typed.strip() or len(typed) > MAX_TYPED_LENGTH:
        reason = LookupFailureReason.MALFORMED
        canonical = ""
    else:
        try:
            canonical = codes.normalize_code(typed)
        except codes.InvalidCode as exc:
            reason = _INVALID_REASONS.get(str(exc), LookupFailureReason.FOREIGN)
            canonical = ""
        if codes.is_test_code(canonical):
            raise SandboxCardRefused()
    # A failed code is digested and looked up too, as "!" + what was typed: no card's code
    # starts with "!", so the query finds nothing, in the time a real look-up takes.
    digest = codes.code_digest(canonical or "!" + typed[:MAX_TYPED_LENGTH])
    card, blocked_until = _card_and_block(digest, subjects or [])
    if blocked_until is not None:
        raise throttle.LimitReached(
            retry_after=throttle.retry_after(blocked_until), limit="failures"
        )
    if reason is not None:
        raise CardUnavailable(reason)
    if card is None:
        raise CardUnavailable(LookupFailureReason.UNKNOWN)
    if card.is_test:
        raise SandboxCardRefused()
    unusable = card_unusable_reason(card)
    if unusable is not None:
        raise CardUnavailable(unusable, card=card)
    return card


def lookup_failed(
    *,
    key: MerchantApiKey,
    failure: CardUnavailable,
    endpoint: str,
    ip: str | None,
    prefix: str,
) -> None:
    """Record a failed look-up with its reason, count it, and freeze the key on a canary or a
    burst of failures. Runs in a transaction of its own: the request's answer is a failure, but
    the record stays."""
    serial = failure.card.serial_display if failure.card is not None else ""
    with transaction.atomic():
        MerchantLookupFailure.objects.create(
            key=key,
            merchant_id=key.merchant_id,
            client_ip=ip,
            endpoint=endpoint,
            reason=failure.reason,
            serial_prefix=serial[:SERIAL_PREFIX_DIGITS],
        )
        burst = throttle.failure_count(key=key, ip=ip, prefix=prefix)
        if failure.reason == LookupFailureReason.CANARY:
            merchant_key_freeze(key_id=key.pk, reason=FREEZE_CANARY, ip=ip)
        elif burst >= settings.MERCHANT_FREEZE_FAILURES and merchant_key_freeze(
            key_id=key.pk, reason=FREEZE_BURST, ip=ip
        ):
            logger.warning("merchant key %s frozen after %s failed look-ups", key.prefix, burst)


def card_look_up(*, key: MerchantApiKey, code: object, endpoint: str, ip: str | None) -> Card:
    """The usable card with this code, for a request of this key: LimitReached when the key,
    its merchant, the address or the code's prefix has failed too often (read in the look-up's
    own statement); CardUnavailable (after recording and counting it) when no usable card
    answers."""
    prefix = throttle.code_prefix(code) if isinstance(code, str) else ""
    try:
        return card_find(code=code, subjects=throttle.block_subjects(key=key, ip=ip, prefix=prefix))
    except CardUnavailable as failure:
        lookup_failed(key=key, failure=failure, endpoint=endpoint, ip=ip, prefix=prefix)
        raise


def canary_mark(*, card_ids: list[int]) -> int:
    """Make these cards canaries: never delivered (the issuance's part), and a look-up of one at
    the merchant API freezes the key that made it. Returns how many were marked."""
    return Card.objects.filter(pk__in=card_ids, is_canary=False).update(is_canary=True)
