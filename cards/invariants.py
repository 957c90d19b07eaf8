"""Card invariants for billing's nightly ledger check (registered in ``cards.apps``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from billing.models import Account, Posting
from billing.money import ZERO
from cards.models import Card, CardStatus

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
