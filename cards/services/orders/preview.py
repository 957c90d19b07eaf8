"""The order form's live price: the lines typed so far checked and priced by the same rules as
``order_lines_check`` (``LineRules``, ``checked_order``), without refusing the whole order for
one line still wrong, and without writing anything."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.models import Company

from .base import CheckedLine, CheckedOrder, LineInput
from .rules import LineRules, checked_order


@dataclass(frozen=True)
class LinesPreview:
    """``checked``: the lines that pass every rule, priced and totalled (None when none does);
    ``priced``: those lines by line number; ``problems``: what is wrong with the others, one
    message per broken rule, as the order form's check words it."""

    checked: CheckedOrder | None
    priced: dict[int, CheckedLine] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def order_lines_preview(*, company: Company, lines: list[tuple[int, LineInput]]) -> LinesPreview:
    """Check and price ``lines`` (line number, line) for a preview; reads only."""
    if not lines:
        return LinesPreview(checked=None)
    rules = LineRules(company)
    rules.load_products([line for _number, line in lines])
    priced: dict[int, CheckedLine] = {}
    problems: list[str] = []
    for number, raw in lines:
        line, broken = rules.check(raw)
        if broken:
            problems.extend(problem.message(number) for problem in broken)
        elif line is not None:
            priced[number] = line
    checked = checked_order(list(priced.values())) if priced else None
    return LinesPreview(checked=checked, priced=priced, problems=problems)
