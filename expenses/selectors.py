"""Read-only questions about a company's card spend and claims that the reconciliation pages,
the period report and the finance dashboard ask (issue 16): spend nobody claimed, cards never
spent. Each takes the company (the caller has checked access) and answers counts and sums, with
the rows (a queryset to paginate, or the few groups)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Least

from cards.models import Card, CardTransaction
from expenses.models import ExpenseMatch, ReconciliationPeriod, ReportStatus, Resolution
from portal import days
from portal.models import Company

Kind = CardTransaction.Kind
MONEY = DecimalField(max_digits=14, decimal_places=2)
ZERO = Decimal("0.00")


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The month's instants ``[first day 00:00, first of next month 00:00)``, Asia/Shanghai."""
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return days.day_start(first), days.day_start(following)


def period_bounds(period: ReconciliationPeriod) -> tuple[datetime.datetime, datetime.datetime]:
    """The period's month as instants ``[first day 00:00, first of next month 00:00)``,
    Asia/Shanghai."""
    return month_bounds(period.month)


def _voided() -> Exists:
    """The redemption (the outer query's row) was voided."""
    return Exists(CardTransaction.objects.filter(original=OuterRef("pk"), kind=Kind.REDEEM_VOID))


def _money(subquery: Subquery) -> Coalesce:
    return Coalesce(subquery, Value(ZERO), output_field=MONEY)


# --- Spend nobody claimed -------------------------------------------------------------------------
#
# The one definition of claimed and unclaimed spend (the period report, closing, the exception
# queue and the dashboard all read it from here). A redemption's spend is covered by the claim
# lines matched to it, except the lines finance rejected (finance refused that claim: the spend
# is unclaimed again) and the lines of discarded reports.


def covering_matches() -> QuerySet[ExpenseMatch]:
    """The matches of the outer query's transaction that cover its spend: their line not
    rejected, their report not discarded."""
    return (
        ExpenseMatch.objects.filter(transaction=OuterRef("pk"))
        .exclude(line__resolution=Resolution.REJECTED)
        .exclude(line__report__status=ReportStatus.DISCARDED)
    )


def month_spend(*, company: Company | OuterRef, month: datetime.date) -> QuerySet[CardTransaction]:
    """The redemptions of ``company``'s cards (a company, or an ``OuterRef`` to one) made in the
    month (Asia/Shanghai), voided ones left out, each annotated: ``net`` (less its refunds),
    ``claimed`` (what covering claim lines took of it, from any period), ``matched`` (the
    claimed part, never more than ``net``) and ``unclaimed`` (the rest, never below zero)."""
    start, end = month_bounds(month)
    refunds = (
        CardTransaction.objects.filter(original=OuterRef("pk"), kind=Kind.REFUND)
        .order_by()
        .values("original")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    claimed = (
        covering_matches()
        .order_by()
        .values("transaction")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        CardTransaction.objects.filter(
            kind=Kind.REDEEM,
            card__batch__company=company,
            created_at__gte=start,
            created_at__lt=end,
        )
        .exclude(_voided())
        .annotate(
            net=ExpressionWrapper(
                -F("amount") - _money(Subquery(refunds, output_field=MONEY)),
                output_field=MONEY,
            ),
            claimed=_money(Subquery(claimed, output_field=MONEY)),
        )
        .annotate(matched=Least(F("claimed"), F("net"), output_field=MONEY))
        .annotate(unclaimed=ExpressionWrapper(F("net") - F("matched"), output_field=MONEY))
    )


def unclaimed_spend_rows(
    *, company: Company | OuterRef, month: datetime.date
) -> QuerySet[CardTransaction]:
    """The month's redemptions (as :func:`month_spend`) with something left unclaimed."""
    # The annotation is month_spend's; the stubs do not see it through the return type.
    return month_spend(company=company, month=month).filter(unclaimed__gt=0)  # type: ignore[misc]


@dataclass(frozen=True)
class UnclaimedSpend:
    count: int  # redemptions with some of their net amount unclaimed
    amount: Decimal  # the unclaimed part, summed
    # Each redemption, annotated: net (less refunds), claimed, matched, unclaimed, employee_id,
    # cost_center; oldest first.
    transactions: QuerySet[CardTransaction]


def unclaimed_spend_of_month(*, company: Company, month: datetime.date) -> UnclaimedSpend:
    """The company's card redemptions made in the month (Asia/Shanghai), net of refunds,
    voided ones left out, whose net amount covering claim lines (not rejected, of reports not
    discarded) do not cover in full; ``unclaimed`` is what is left of each."""
    transactions = (
        unclaimed_spend_rows(company=company, month=month)
        .annotate(
            employee_id=F("card__batch__line__employee_id"),
            cost_center=F("card__batch__line__cost_center"),
        )
        .order_by("created_at", "pk")
    )
    totals = transactions.aggregate(count=Count("pk"), amount=Sum("unclaimed"))
    return UnclaimedSpend(
        count=totals["count"] or 0,
        amount=(totals["amount"] or ZERO).quantize(Decimal("0.01")),
        transactions=transactions,
    )


def unclaimed_spend(*, company: Company, period: ReconciliationPeriod) -> UnclaimedSpend:
    """The unclaimed spend of the period's month (:func:`unclaimed_spend_of_month`)."""
    return unclaimed_spend_of_month(company=company, month=period.month)


# --- Cards never spent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NeverSpentGroup:
    order_id: uuid.UUID  # the order's public id
    order_number: str
    cost_center: str
    cards: int
    face_value: Decimal


@dataclass(frozen=True)
class NeverSpent:
    cards: int
    face_value: Decimal
    groups: list[NeverSpentGroup]  # by order number, then cost center


def cards_never_spent(
    *, company: Company, period: ReconciliationPeriod | None = None
) -> NeverSpent:
    """The company's cards (canaries left out) with no redemption that stands (voided ones do
    not count), by order and cost center (the order line's). With a period: the cards issued
    before its end, and redemptions before its end; without: as of now."""
    redemptions = CardTransaction.objects.filter(card=OuterRef("pk"), kind=Kind.REDEEM).exclude(
        _voided()
    )
    cards = Card.objects.filter(batch__company=company, is_canary=False)
    if period is not None:
        _start, end = period_bounds(period)
        redemptions = redemptions.filter(created_at__lt=end)
        cards = cards.filter(created_at__lt=end)
    rows = (
        cards.exclude(Exists(redemptions))
        .order_by()
        .values(
            order_public_id=F("batch__order__public_id"),
            order_number=F("batch__order__number"),
            line_cost_center=F("batch__line__cost_center"),
        )
        .annotate(count=Count("pk"), face=Sum("face_value"))
        .order_by("order_number", "line_cost_center")
    )
    groups = [
        NeverSpentGroup(
            order_id=row["order_public_id"],
            order_number=row["order_number"],
            cost_center=row["line_cost_center"],
            cards=row["count"],
            face_value=(row["face"] or ZERO).quantize(Decimal("0.01")),
        )
        for row in rows
    ]
    return NeverSpent(
        cards=sum(g.cards for g in groups),
        face_value=sum((g.face_value for g in groups), ZERO),
        groups=groups,
    )
