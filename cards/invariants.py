"""Card invariants for billing's nightly ledger check (registered in ``cards.apps``)."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import Account, Posting
from billing.money import ZERO
from cards.models import Card, CardStatus, Order, OrderStatus

# Cards whose balance the issuer still owes: expired balances went to breakage, voided ones
# were reversed with their invoice.
LIVE_STATUSES = (CardStatus.ACTIVE, CardStatus.FROZEN, CardStatus.DEPLETED)


def card_liability_check() -> dict[str, Any]:
    """The card liability account equals the sum of live card balances."""
    cards = Card.objects.filter(status__in=LIVE_STATUSES).aggregate(s=Sum("balance"))["s"] or ZERO
    posted = (
        Posting.objects.filter(account__kind=Account.Kind.CARD_LIABILITY).aggregate(
            s=Sum("amount")
        )["s"]
        or ZERO
    )
    liability = -posted  # a liability is a credit balance
    return {"ok": liability == cards, "expected": str(cards), "actual": str(liability)}


def cards_to_issue_started_check() -> dict[str, Any]:
    """No value waits in "cards to issue" for an order funded longer than
    ``ORDER_FUNDED_STALE_SECONDS`` ago whose card generation never started (its start was lost:
    the issuance sweep should have started it)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.ORDER_FUNDED_STALE_SECONDS)
    stranded = Order.objects.filter(
        status=OrderStatus.FUNDED, funded_at__lt=cutoff, batches__isnull=True
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
