"""The daily expiry of bearer cards past their date.

Set-based and in chunks, for tables of millions of cards: the cards table is walked in ranges of
``settings.CARD_EXPIRY_CHUNK_SIZE`` ids, each range in one transaction that

1. locks the range's cards that are due (bearer, ``active`` or ``depleted``, ``expires_at``
   passed), in id order, like every other writer of cards;
2. releases their open holds (``CardHold`` released, ``Card.held`` back to 0);
3. marks them ``expired`` and writes one ``expire`` transaction per card (amount 0: the card keeps
   its balance, so that it can be reactivated, and balance = face value + transactions holds);
4. posts one journal entry for the range's balances: card liability +B / expired-balance
   liability -B (none when B is 0: cards without money expire too, nothing moves).

Idempotent: a card already expired is not due any more, so a second run, or a run after one killed
midway (its unfinished range rolled back), does only what is left. The entry's idempotency key is
that of the range's first card and its expiry date, which no other range can share.

Frozen cards are left alone: an operator's freeze wins; once unfrozen, a card past its date expires
on the next run.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from billing.models import Account, JournalEntry
from billing.money import ZERO
from billing.services.ledger import account_get, journal_post
from cards.models import Card, CardHold, CardStatus, CardTransaction, HoldStatus
from cards.services.card_movements import card_event
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.models import WebhookEndpoint

from .base import SYSTEM_ACTOR, ExpiryAction, bearer_cards

logger = logging.getLogger(__name__)

# Statuses a bearer card expires from: spendable, and used up (a zero balance expires too).
EXPIRING_STATUSES = (CardStatus.ACTIVE, CardStatus.DEPLETED)


@dataclass
class ExpirySummary:
    ran_at: datetime.datetime
    ranges: int = 0
    cards: int = 0
    balance: Decimal = ZERO
    entries: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran_at": self.ran_at.isoformat(),
            "ranges": self.ranges,
            "cards": self.cards,
            "balance": str(self.balance),
            "entries": len(self.entries),
        }


def cards_due(now: datetime.datetime) -> Any:
    """Bearer cards past their date that have not expired yet (frozen ones wait)."""
    return bearer_cards().filter(status__in=EXPIRING_STATUSES, expires_at__lte=now)


# Marks the locked cards expired and writes their transactions, in one statement.
_EXPIRE_SQL = """
WITH expired AS (
    UPDATE {card} AS c
    SET status = %(expired)s, held = 0, last_activity_at = %(now)s
    WHERE c.id = ANY(%(ids)s) AND c.status = ANY(%(from_statuses)s)
    RETURNING c.id, c.serial, c.balance, c.expires_at
), written AS (
    INSERT INTO {transaction}
        (card_id, kind, amount, balance_after, idempotency_key, created_at,
         request_digest, reason, merchant_reference)
    SELECT id, %(kind)s, 0, balance,
           'expire:' || id || ':' || floor(extract(epoch FROM expires_at))::bigint,
           %(now)s, '', '', ''
    FROM expired
    RETURNING card_id
)
SELECT e.id, e.serial, e.balance, floor(extract(epoch FROM e.expires_at))::bigint
FROM expired e JOIN written w ON w.card_id = e.id
ORDER BY e.id
"""


def _expiry_events(card_ids: list[int]) -> None:
    """``card.expired`` for the expired cards of companies with an endpoint subscribed to it
    (only those record it: a night's expiry can be a million cards)."""
    subscribed = [
        company_id
        for company_id, types in WebhookEndpoint.objects.filter(
            disabled_at__isnull=True
        ).values_list("company_id", "event_types")
        if EventType.CARD_EXPIRED in types
    ]
    if not subscribed:
        return
    cards = Card.objects.filter(pk__in=card_ids, batch__company_id__in=subscribed).select_related(
        "batch"
    )
    for card in cards.order_by("pk"):
        card_event(card, EventType.CARD_EXPIRED, company_id=card.batch.company_id)


def cards_expire_range(
    *, first_id: int, end_id: int, now: datetime.datetime
) -> tuple[int, Decimal, JournalEntry | None]:
    """Expire the due cards with ``first_id <= id < end_id``, in one transaction. Returns the
    number of cards expired, their balances and the journal entry (None when no money moved)."""
    with transaction.atomic(durable=True):
        ids = list(
            cards_due(now)
            .filter(pk__gte=first_id, pk__lt=end_id)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0, ZERO, None
        CardHold.objects.filter(card_id__in=ids, status=HoldStatus.HELD).update(
            status=HoldStatus.RELEASED, closed_at=now
        )
        sql = _EXPIRE_SQL.format(
            card=Card._meta.db_table, transaction=CardTransaction._meta.db_table
        )
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                {
                    "expired": CardStatus.EXPIRED,
                    "now": now,
                    "ids": ids,
                    "from_statuses": list(EXPIRING_STATUSES),
                    "kind": CardTransaction.Kind.EXPIRE,
                },
            )
            rows = cursor.fetchall()
        if not rows:
            return 0, ZERO, None
        total = sum((row[2] for row in rows), ZERO)
        first_card, first_serial, _balance, first_epoch = rows[0]
        last_serial = rows[-1][1]
        entry = None
        if total > ZERO:
            entry = journal_post(
                kind="card_expiry",
                idempotency_key=f"card-expiry:{first_card}:{first_epoch}",
                postings=[
                    (account_get(Account.Kind.CARD_LIABILITY), total),
                    (account_get(Account.Kind.EXPIRED_LIABILITY), -total),
                ],
                reference=f"{first_serial:016d}-{last_serial:016d}",
                memo=f"{len(rows)} bearer cards expired (ids {first_card}-{rows[-1][0]})",
            )
        _expiry_events([row[0] for row in rows])
        audit_record(
            action=ExpiryAction.CARDS_EXPIRED,
            actor_label=SYSTEM_ACTOR,
            changes={
                "cards": len(rows),
                "balance": str(total),
                "first_serial": f"{first_serial:016d}",
                "last_serial": f"{last_serial:016d}",
            },
        )
    return len(rows), total, entry


def cards_expire(
    *, now: datetime.datetime | None = None, chunk_size: int | None = None
) -> ExpirySummary:
    """Expire every bearer card past its date, range by range (module docstring). Safe to run
    twice, after a crash, or from two schedulers at once (the row locks and the status decide)."""
    now = now or timezone.now()
    size = chunk_size or settings.CARD_EXPIRY_CHUNK_SIZE
    summary = ExpirySummary(ran_at=now)
    # Only the ids between the first and the last card due are walked (the partial index
    # card_expiring finds them); a run with nothing due reads no card.
    bounds = cards_due(now).aggregate(first=Min("pk"), last=Max("pk"))
    if bounds["first"] is None:
        return summary
    start = bounds["first"]
    while start <= bounds["last"]:
        count, total, entry = cards_expire_range(first_id=start, end_id=start + size, now=now)
        if count:
            summary.ranges += 1
            summary.cards += count
            summary.balance += total
        if entry is not None:
            summary.entries.append(entry.pk)
        start += size
    logger.info("card expiry %s", summary.as_dict())
    return summary
