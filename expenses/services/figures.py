"""What a period's reconciliation report states, read from its claim lines and matches and the
company's card spend of the month: counts and amounts per result and per resolution, open
exceptions, the spend matched to its claims and the spend nobody claimed."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest

from billing.money import ZERO
from cards.models import CardTransaction
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    LineState,
    ReconciliationPeriod,
    Resolution,
)
from expenses.services.resolution import (
    RETURN_KINDS,
    SPEND_KINDS,
    open_exceptions,
)
from portal import days
from portal.models import Company

_MONEY = DecimalField(max_digits=14, decimal_places=2)


# --- Months --------------------------------------------------------------------------------------


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants ``[first day 00:00, first day of next month 00:00)``, Asia/Shanghai."""
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return days.day_start(first), days.day_start(following)


def month_text(month: datetime.date) -> str:
    return f"{month:%Y-%m}"


# --- Figures -------------------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    return str(value if value is not None else ZERO)


def unclaimed_spend_rows(month: datetime.date, company: Any) -> QuerySet[CardTransaction]:
    """The redemptions of ``company``'s cards (a company or an ``OuterRef``) made in the month
    with something left that no claim line backs, annotated ``left``: the amount, less its
    refunds and void, less what claims took of it (from any period)."""
    start, end = month_bounds(month)
    returned = (
        CardTransaction.objects.filter(original=OuterRef("pk"), kind__in=RETURN_KINDS)
        .order_by()
        .values("original")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    claimed = (
        ExpenseMatch.objects.filter(transaction=OuterRef("pk"))
        .order_by()
        .values("transaction")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return (
        CardTransaction.objects.filter(
            card__batch__company=company,
            kind__in=SPEND_KINDS,
            created_at__gte=start,
            created_at__lt=end,
        )
        .order_by()
        .annotate(
            left=Greatest(
                -F("amount")
                - Coalesce(Subquery(returned, output_field=_MONEY), Value(ZERO))
                - Coalesce(Subquery(claimed, output_field=_MONEY), Value(ZERO)),
                Value(ZERO),
                output_field=_MONEY,
            )
        )
        .filter(left__gt=0)
    )


def unclaimed_spend_of_month(company: Company, month: datetime.date) -> dict[str, Any]:
    """The company's card spend in the month that no claim line backs (``{"count": n,
    "amount": "..."}``).

    Computed here until the shared selector of unclaimed spend (by order and cost center) is
    merged; it reads the same rows."""
    left = unclaimed_spend_rows(month, company).aggregate(count=Count("pk"), amount=Sum("left"))
    return {"count": left["count"] or 0, "amount": _money(left["amount"])}


def period_figures(period: ReconciliationPeriod) -> dict[str, Any]:
    """What the period's reconciliation report states: its claim lines by state and by
    resolution (count and amount), open exceptions, the spend matched to its claims and the
    spend of the month nobody claimed."""
    lines = ExpenseLine.objects.filter(period=period).order_by()
    total = lines.aggregate(count=Count("pk"), amount=Sum("amount"), matched=Sum("matched_amount"))
    by_state: dict[str, dict[str, Any]] = {
        row["state"]: dict(row)
        for row in lines.values("state").annotate(count=Count("pk"), amount=Sum("amount"))
    }
    by_resolution: dict[str, dict[str, Any]] = {
        row["resolution"]: dict(row)
        for row in lines.values("resolution").annotate(count=Count("pk"), amount=Sum("amount"))
    }
    open_ = open_exceptions(lines).aggregate(count=Count("pk"), amount=Sum("amount"))
    matches = ExpenseMatch.objects.filter(line__period=period).aggregate(
        amount=Sum("amount"), manual=Count("pk", filter=Q(manual=True)), count=Count("pk")
    )
    return {
        "month": month_text(period.month),
        "lines": {
            "count": total["count"] or 0,
            "amount": _money(total["amount"]),
            "matched_amount": _money(total["matched"]),
        },
        "states": {
            state: {
                "count": by_state.get(state, {}).get("count", 0),
                "amount": _money(by_state.get(state, {}).get("amount")),
            }
            for state in LineState.values
        },
        "resolutions": {
            (resolution or "open"): {
                "count": by_resolution.get(resolution, {}).get("count", 0),
                "amount": _money(by_resolution.get(resolution, {}).get("amount")),
            }
            for resolution in Resolution.values
        },
        "open_exceptions": {"count": open_["count"] or 0, "amount": _money(open_["amount"])},
        "matched_spend": {
            "amount": _money(matches["amount"]),
            "matches": matches["count"] or 0,
            "manual": matches["manual"] or 0,
        },
        "unclaimed_spend": unclaimed_spend_of_month(period.company, period.month),
        "reports": lines.values("report_id").distinct().count(),
    }
