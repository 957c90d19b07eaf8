"""What a period's reconciliation report states, read from its claim lines and matches and the
company's card spend of the month: counts and amounts per result and per resolution, open
exceptions, the spend matched to its claims and the spend nobody claimed."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from billing.money import ZERO
from expenses import selectors
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    LineState,
    ReconciliationPeriod,
    Resolution,
)
from expenses.services.resolution import open_exceptions
from portal.models import Company

# --- Months --------------------------------------------------------------------------------------


def month_text(month: datetime.date) -> str:
    return f"{month:%Y-%m}"


# --- Figures -------------------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    return str(value if value is not None else ZERO)


def unclaimed_spend_of_month(company: Company, month: datetime.date) -> dict[str, Any]:
    """The company's card spend in the month that no claim line covers (``{"count": n,
    "amount": "..."}``), as :func:`expenses.selectors.unclaimed_spend_of_month` counts it."""
    left = selectors.unclaimed_spend_of_month(company=company, month=month)
    return {"count": left.count, "amount": _money(left.amount)}


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
