"""What the ledger said at an instant: the reads every report shares (never a write)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Sum

from billing.models import Account, Posting
from billing.money import ZERO

# What the issuer owes on prepaid cards: live cards, expired cards (their holders may still come
# back), and cards sold whose codes are not generated yet.
PREPAID_ACCOUNTS = (
    Account.Kind.CARD_LIABILITY,
    Account.Kind.EXPIRED_LIABILITY,
    Account.Kind.CARDS_TO_ISSUE,
)


def owed_before(kind: str, before: datetime.datetime | None = None) -> Decimal:
    """What the accounts of ``kind`` owed (minus the sum of their postings; credits are
    negative) counting the entries made before ``before`` (all of them when None)."""
    postings = Posting.objects.filter(account__kind=kind)
    if before is not None:
        postings = postings.filter(entry__created_at__lt=before)
    total: Decimal = postings.aggregate(s=Sum("amount"))["s"] or ZERO
    return -total


def prepaid_outstanding(before: datetime.datetime | None = None) -> dict[str, Decimal]:
    """The prepaid balance outstanding, by account kind and in total (``"total"``)."""
    parts: dict[str, Decimal] = {str(kind): owed_before(kind, before) for kind in PREPAID_ACCOUNTS}
    return {**parts, "total": sum(parts.values(), ZERO)}
