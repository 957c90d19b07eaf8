"""Card invariants for billing's nightly ledger check (registered in ``cards.apps``)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import Account, Posting
from billing.money import ZERO
from cards.models import (
    Card,
    CardHold,
    CardStatus,
    CardTransaction,
    HoldStatus,
    Order,
    OrderStatus,
)
from portal.live_data import live_rows

# Cards whose balance is owed on the card liability. Expired cards' balances are owed too, on the
# expired-balance liability (less breakage recognised on them); voided cards' are not owed on a
# card (their balance went to the voided-cards account when voided).
LIVE_STATUSES = (CardStatus.ACTIVE, CardStatus.FROZEN, CardStatus.DEPLETED)
# Test cards (a sandbox's, docs/api.md "Test mode") are owed nothing and post nothing: every sum
# of balances below is over ``Card.objects.live()``.


def _credit_balance(kind: str) -> Any:
    """What an account of this kind owes: minus the sum of its postings (credits are negative)."""
    posted = Posting.objects.filter(account__kind=kind).aggregate(s=Sum("amount"))["s"] or ZERO
    return -posted


def card_liability_check() -> dict[str, Any]:
    """The card liability account equals the sum of live card balances."""
    cards = (
        Card.objects.live().filter(status__in=LIVE_STATUSES).aggregate(s=Sum("balance"))["s"]
        or ZERO
    )
    liability = _credit_balance(Account.Kind.CARD_LIABILITY)
    return {"ok": liability == cards, "expected": str(cards), "actual": str(liability)}


def cards_to_issue_started_check() -> dict[str, Any]:
    """No value waits in "cards to issue" for an order funded longer than
    ``ORDER_FUNDED_STALE_SECONDS`` ago whose card generation never started (its start was lost:
    the issuance sweep should have started it)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.ORDER_FUNDED_STALE_SECONDS)
    stranded = live_rows(
        Order.objects.filter(status=OrderStatus.FUNDED, funded_at__lt=cutoff, batches__isnull=True)
    )
    totals = stranded.aggregate(count=Count("id"), face=Sum("face_total"))
    waiting = totals["face"] or ZERO
    posted = (
        Posting.objects.filter(account__kind=Account.Kind.CARDS_TO_ISSUE).aggregate(
            s=Sum("amount")
        )["s"]
        or ZERO
    )
    return {
        "ok": not totals["count"],
        "expected": str(ZERO),
        "actual": str(waiting),
        "cards_to_issue": str(-posted),  # a liability is a credit balance
        "stranded_count": totals["count"],
        "stranded_orders": list(stranded.order_by("pk").values_list("number", flat=True)[:20]),
    }


# --- Expiry, voids and each card's own history (cards/services/expiry/) ------------------------


def card_and_expired_liability_check() -> dict[str, Any]:
    """Card liability + expired-balance liability = the balances of the cards the issuer owes.

    Precisely, with every figure a sum over all cards and all postings:

        card_liability + expired_liability
            = balances of active, frozen and depleted cards       (``LIVE_STATUSES``)
            + balances of expired cards
            - breakage recognised on expired cards and not reversed

    where an account's figure is what it owes (minus the sum of its postings), and the breakage
    is the amounts of ``BreakageCard`` rows that are live in posted decisions (an expired card
    keeps its balance after breakage; the holder may still come back). Both sides are checked
    separately as well: the card liability against live balances, the expired-balance liability
    against expired balances less breakage. ``ok`` only when both hold (so the sum holds).
    Voided cards are outside (their balance is 0 once voided; see ``voided_cards_check``).
    """
    from cards.services.expiry import breakage_outstanding

    live = (
        Card.objects.live().filter(status__in=LIVE_STATUSES).aggregate(s=Sum("balance"))["s"]
        or ZERO
    )
    expired = (
        Card.objects.live().filter(status=CardStatus.EXPIRED).aggregate(s=Sum("balance"))["s"]
        or ZERO
    )
    breakage = breakage_outstanding()
    card_liability = _credit_balance(Account.Kind.CARD_LIABILITY)
    expired_liability = _credit_balance(Account.Kind.EXPIRED_LIABILITY)
    expected = live + expired - breakage
    actual = card_liability + expired_liability
    return {
        "ok": card_liability == live and expired_liability == expired - breakage,
        "expected": str(expected),
        "actual": str(actual),
        "card_liability": str(card_liability),
        "live_balances": str(live),
        "expired_liability": str(expired_liability),
        "expired_balances": str(expired),
        "breakage_outstanding": str(breakage),
    }


def voided_cards_check() -> dict[str, Any]:
    """The voided-cards account holds the balances voided and not yet refunded.

    Voided = the amounts taken off cards by ``void`` transactions (a reissue's ``reissue_out``
    moves money to another card, not to this account). Refunded = what left the account since
    (its debits: credited back to the buyer). So: the account's credits equal the voided amounts
    exactly, and what it owes (credits - debits) is never negative."""
    voided = -(
        CardTransaction.objects.filter(kind=CardTransaction.Kind.VOID).aggregate(s=Sum("amount"))[
            "s"
        ]
        or ZERO
    )
    postings = Posting.objects.filter(account__kind=Account.Kind.VOIDED_CARDS)
    credited = -(postings.filter(amount__lt=0).aggregate(s=Sum("amount"))["s"] or ZERO)
    refunded = postings.filter(amount__gt=0).aggregate(s=Sum("amount"))["s"] or ZERO
    owed = credited - refunded
    return {
        "ok": credited == voided and owed >= ZERO,
        "expected": str(voided - refunded),
        "actual": str(owed),
        "voided": str(voided),
        "credited": str(credited),
        "refunded": str(refunded),
    }


_CARD_HISTORY_SQL = """
SELECT c.serial, c.face_value + COALESCE(t.moved, 0) AS expected, c.balance
FROM {card} c
LEFT JOIN (
    SELECT card_id, SUM(amount) AS moved FROM {transaction} GROUP BY card_id
) t ON t.card_id = c.id
WHERE ROUND(c.balance, 2) <> ROUND(c.face_value + COALESCE(t.moved, 0), 2)
ORDER BY c.serial
"""

_CARD_HELD_SQL = """
SELECT c.serial, COALESCE(h.open, 0) AS expected, c.held
FROM {card} c
LEFT JOIN (
    SELECT card_id, SUM(amount - captured) AS open FROM {hold}
    WHERE status = %s GROUP BY card_id
) h ON h.card_id = c.id
WHERE ROUND(c.held, 2) <> ROUND(COALESCE(h.open, 0), 2)
ORDER BY c.serial
"""

_SHOWN_CARDS = 20


def _money(value: Any) -> Decimal:
    """An amount as SQL gave it (SQLite computes sums in floating point) to the cent."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _card_mismatches(sql: str, params: list[Any]) -> dict[str, Any]:
    """Run a query of (serial, expected, actual) rows, one per card that disagrees; the first
    ``_SHOWN_CARDS`` serials are kept (serials are public; never a code)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        "ok": not rows,
        "expected": str(sum((_money(row[1]) for row in rows), ZERO)),
        "actual": str(sum((_money(row[2]) for row in rows), ZERO)),
        "card_count": len(rows),
        "cards": [f"{row[0]:016d}" for row in rows[:_SHOWN_CARDS]],
    }


def card_history_check() -> dict[str, Any]:
    """Every card's balance equals its face value plus its own transactions (one set-based
    query over all cards). ``expected``/``actual`` sum the cards that disagree."""
    sql = _CARD_HISTORY_SQL.format(
        card=Card._meta.db_table, transaction=CardTransaction._meta.db_table
    )
    return _card_mismatches(sql, [])


def card_held_check() -> dict[str, Any]:
    """Every card's ``held`` equals what its open holds reserve (held, not yet captured)."""
    sql = _CARD_HELD_SQL.format(card=Card._meta.db_table, hold=CardHold._meta.db_table)
    return _card_mismatches(sql, [HoldStatus.HELD])
