"""Report 5: expired balances and breakage, for a period.

What the issuer still owes on expired bearer cards at the period end, by how long ago they
expired; the cards that came back (reactivated) in the period; and breakage recognised and
reversed in the period, each with the decision that allowed it (issue 11's policy: proposed by
one operator, reviewed by a second, reversible). Every figure is as it stood at the period end:
card balances from card transactions, breakage from the decisions' own times, the liability
from the ledger entries made before the end, so a later change never alters a past period.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _

from billing.models import Account, Posting
from billing.money import ZERO
from cards.models import BreakageCard, BreakageDecision, BreakageStatus, Card, CardTransaction
from compliance.content import Figure, Period, ReportContent, ReportKind, ReportTable
from compliance.ledger import owed_before
from portal import days

# (upper bound in days since expiry, label); the last band has no bound.
AGE_BANDS: list[tuple[int | None, Any]] = [
    (183, _("Under 6 months")),
    (365, _("6 to 12 months")),
    (730, _("1 to 2 years")),
    (1095, _("2 to 3 years")),
    (None, _("3 years or more")),
]
# A card stops being expired when it comes back or its balance goes elsewhere.
_BACK_KINDS = (
    CardTransaction.Kind.REACTIVATE,
    CardTransaction.Kind.REISSUE_OUT,
    CardTransaction.Kind.VOID,
)

_EXPIRED_AT_END_SQL = """
WITH last_expiry AS (
    SELECT card_id, MAX(created_at) AS expired_at FROM {tx}
    WHERE kind = %(expire)s AND created_at < %(end)s GROUP BY card_id
), still AS (
    SELECT e.card_id, e.expired_at FROM last_expiry e
    WHERE NOT EXISTS (
        SELECT 1 FROM {tx} x WHERE x.card_id = e.card_id AND x.kind = ANY(%(back)s)
        AND x.created_at > e.expired_at AND x.created_at < %(end)s
    )
), held AS (
    SELECT s.card_id,
        (%(end_date)s::date - (s.expired_at AT TIME ZONE %(tz)s)::date) AS age,
        c.face_value + COALESCE((
            SELECT SUM(t.amount) FROM {tx} t WHERE t.card_id = s.card_id AND t.created_at < %(end)s
        ), 0) AS balance,
        COALESCE((
            SELECT SUM(b.amount) FROM {bcard} b JOIN {decision} d ON d.id = b.decision_id
            WHERE b.card_id = s.card_id AND d.status = ANY(%(posted)s)
            AND d.reviewed_at < %(end)s
            AND (b.reversed_at IS NULL OR b.reversed_at >= %(end)s)
            AND (d.reversed_at IS NULL OR d.reversed_at >= %(end)s)
        ), 0) AS breakage
    FROM still s JOIN {card} c ON c.id = s.card_id
)
SELECT CASE {bands} END AS band, COUNT(*), COUNT(*) FILTER (WHERE balance > 0),
    COALESCE(SUM(balance), 0), COALESCE(SUM(breakage), 0)
FROM held GROUP BY band ORDER BY band
"""


def _band_sql() -> str:
    parts = [
        f"WHEN age < {limit} THEN {index}"
        for index, (limit, _label) in enumerate(AGE_BANDS)
        if limit is not None
    ]
    return " ".join(parts) + f" ELSE {len(AGE_BANDS) - 1}"


def expired_by_age(period: Period) -> list[tuple[int, int, int, Decimal, Decimal]]:
    """Cards expired at the period end, by age band: (band, cards, cards with money, balances,
    breakage recognised on them and not reversed by then)."""
    sql = _EXPIRED_AT_END_SQL.format(
        tx=CardTransaction._meta.db_table,
        card=Card._meta.db_table,
        bcard=BreakageCard._meta.db_table,
        decision=BreakageDecision._meta.db_table,
        bands=_band_sql(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "expire": CardTransaction.Kind.EXPIRE,
                "back": list(_BACK_KINDS),
                "end": days.day_end(period.end),
                "end_date": period.end,
                "tz": days.zone().key,
                "posted": [BreakageStatus.POSTED, BreakageStatus.REVERSED],
            },
        )
        return [(r[0], r[1], r[2], Decimal(r[3]), Decimal(r[4])) for r in cursor.fetchall()]


def _posted(
    kinds: list[str], account: str, start: datetime.datetime, end: datetime.datetime
) -> Decimal:
    """The sum of postings on accounts of ``account`` by entries of ``kinds`` in [start, end)."""
    total = Posting.objects.filter(
        account__kind=account,
        entry__kind__in=kinds,
        entry__created_at__gte=start,
        entry__created_at__lt=end,
    ).aggregate(s=Sum("amount"))["s"]
    return total or ZERO


def _person(user: Any) -> str:
    return user.email if user is not None else ""


def _local_date(instant: datetime.datetime | None) -> datetime.date | str:
    return days.local(instant).date() if instant is not None else ""


def compute(period: Period) -> ReportContent:
    start, end = days.days_bounds(period.start, period.end)
    bands = {row[0]: row for row in expired_by_age(period)}
    band_rows: list[list[Any]] = []
    card_total = with_money_total = 0
    balance_total = breakage_total = ZERO
    for index, (_limit, label) in enumerate(AGE_BANDS):
        _band, cards, with_money, balances, breakage = bands.get(index, (index, 0, 0, ZERO, ZERO))
        band_rows.append([label, cards, with_money, balances, breakage, balances - breakage])
        card_total += cards
        with_money_total += with_money
        balance_total += balances
        breakage_total += breakage
    still_owed = balance_total - breakage_total
    band_rows.append(
        [_("Total"), card_total, with_money_total, balance_total, breakage_total, still_owed]
    )
    ledger_expired = owed_before(Account.Kind.EXPIRED_LIABILITY, end)

    in_period = CardTransaction.objects.filter(created_at__gte=start, created_at__lt=end)
    expired = in_period.filter(kind=CardTransaction.Kind.EXPIRE).aggregate(n=Count("pk"))
    reactivations = (
        in_period.filter(kind=CardTransaction.Kind.REACTIVATE)
        .select_related("card__batch__company", "actor")
        .order_by("created_at", "pk")
    )
    expired_value = -_posted(["card_expiry"], Account.Kind.EXPIRED_LIABILITY, start, end)
    restored_value = _posted(["card_unexpiry"], Account.Kind.EXPIRED_LIABILITY, start, end)
    recognised = -_posted(["breakage"], Account.Kind.BREAKAGE_INCOME, start, end)
    reversed_ = _posted(
        ["breakage_reversal", "breakage_card_reversal"], Account.Kind.BREAKAGE_INCOME, start, end
    )
    income_to_date = owed_before(Account.Kind.BREAKAGE_INCOME, end)

    figures = [
        Figure(
            "expired_liability",
            _("Expired-balance liability at the period end (ledger)"),
            ledger_expired,
        ),
        Figure("expired_balances", _("Balances of cards expired at the period end"), balance_total),
        Figure(
            "breakage_outstanding", _("Breakage recognised on them, not reversed"), breakage_total
        ),
        Figure("expired_owed", _("Still owed on expired cards"), still_owed),
        Figure(
            "difference",
            _("Ledger less cards (should be 0.00)"),
            ledger_expired - (still_owed),
        ),
        Figure("expired_count", _("Cards expired in the period"), expired["n"]),
        Figure(
            "expired_value", _("Balances moved to the expired-balance liability"), expired_value
        ),
        Figure("reactivated_count", _("Cards reactivated in the period"), reactivations.count()),
        Figure("reactivated_value", _("Balances owed on live cards again"), restored_value),
        Figure("breakage_recognised", _("Breakage recognised in the period"), recognised),
        Figure("breakage_reversed", _("Breakage reversed in the period"), reversed_),
        Figure("breakage_net", _("Net breakage income of the period"), recognised - reversed_),
        Figure("breakage_income_to_date", _("Breakage income to the period end"), income_to_date),
    ]
    decisions = (
        BreakageDecision.objects.filter(
            Q(reviewed_at__gte=start, reviewed_at__lt=end, entry__isnull=False)
            | Q(reversed_at__gte=start, reversed_at__lt=end)
            | Q(covered__reversed_at__gte=start, covered__reversed_at__lt=end)
        )
        .distinct()
        .select_related("proposed_by", "reviewed_by", "reversed_by", "entry", "reversal_entry")
        .order_by("reviewed_at", "pk")
    )
    decision_rows = []
    for d in decisions:
        came_back = (
            d.covered.filter(reversed_at__gte=start, reversed_at__lt=end).aggregate(
                s=Sum("amount")
            )["s"]
            or ZERO
        )
        decision_rows.append(
            [
                str(d.public_id),
                BreakageStatus(d.status).label,
                d.card_count,
                d.total,
                _person(d.proposed_by),
                _local_date(d.proposed_at),
                d.reason,
                _person(d.reviewed_by),
                _local_date(d.reviewed_at),
                d.review_note,
                str(d.entry.public_id) if d.entry else "",
                came_back,
                _person(d.reversed_by),
                _local_date(d.reversed_at),
                d.reversal_reason,
            ]
        )
    tables = [
        ReportTable(
            "expired_by_age",
            _("Expired-balance liability by time since expiry, at the period end"),
            [
                _("Expired"),
                _("Cards"),
                _("Cards with money"),
                _("Balances"),
                _("Breakage recognised"),
                _("Still owed"),
            ],
            band_rows,
        ),
        ReportTable(
            "reactivations",
            _("Cards reactivated in the period"),
            [_("Date"), _("Serial"), _("Company"), _("Balance owed again"), _("Operator")],
            [
                [
                    days.local(t.created_at).date(),
                    t.card.serial_display,
                    t.card.batch.company.legal_name,
                    t.balance_after,
                    _person(t.actor),
                ]
                for t in reactivations
            ],
        ),
        ReportTable(
            "breakage_decisions",
            _("Breakage decisions acted on in the period"),
            [
                _("Decision"),
                _("Status"),
                _("Cards"),
                _("Total"),
                _("Proposed by"),
                _("Proposed on"),
                _("Reason"),
                _("Reviewed by"),
                _("Reviewed on"),
                _("Review note"),
                _("Journal entry"),
                _("Reversed as cards came back"),
                _("Reversed by"),
                _("Reversed on"),
                _("Reason for the reversal"),
            ],
            decision_rows,
        ),
    ]
    notes = [
        _(
            "Breakage is recognised only by an operator's decision reviewed by a second operator, "
            "for balances of cards expired longer than the holding period; a card that comes "
            "back has its breakage reversed first."
        )
    ]
    return ReportContent(figures=figures, tables=tables, notes=notes)


KIND = ReportKind(
    key="breakage", title=_("Expired balance and breakage report"), period="any", compute=compute
)
