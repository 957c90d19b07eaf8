"""Reads of expense reports and their lines that the portal pages and the API share."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from expenses.models import ExpenseLine, ExpenseReport, LineState


def reports_for_list(reports: QuerySet[ExpenseReport]) -> QuerySet[ExpenseReport]:
    """The reports, latest first, without their stored result (errors can be many) but with its
    counts per state (``state_counts``, once matched)."""
    return (
        reports.select_related("created_by")
        .defer("result")
        .annotate(state_counts=KeyTransform("states", "result"))
        .order_by("-created_at", "-id")
    )


def state_counts(counts: Any) -> list[dict[str, Any]]:
    """The matching's counts per line state (``result["states"]``), in the states' order, with
    each state's label in the reader's language; [] before matching."""
    if not isinstance(counts, dict):
        return []
    return [
        {
            "state": state.value,
            "label": str(state.label),
            "count": int(counts.get(state.value) or 0),
        }
        for state in LineState
        if state != LineState.PENDING and state.value in counts
    ]


def report_lines(report: ExpenseReport, *, state: str = "") -> QuerySet[ExpenseLine]:
    """The report's claim lines in file order, with what matching found; only those in
    ``state`` when given."""
    lines = ExpenseLine.objects.filter(report=report).select_related(
        "period", "card", "duplicate_of__report"
    )
    if state:
        lines = lines.filter(state=state)
    return lines.order_by("row_number")
