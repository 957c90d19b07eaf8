"""Matching an expense report's claim lines to the company's card spend (issue 16).

Placeholder until the matching engine lands (branch exp-match): the intake calls
``report_match`` once a report's lines are written."""

from __future__ import annotations

from collections.abc import Callable

from expenses.models import ExpenseReport


def report_match(
    *, report_id: int, progress: Callable[[int, int], None] | None = None
) -> ExpenseReport:
    """Match every line of the report (status MATCHING) and leave it MATCHED with its counts in
    ``result["states"]``. ``progress(done, total)`` is called as lines are matched."""
    raise NotImplementedError("the matching engine is not merged yet")
