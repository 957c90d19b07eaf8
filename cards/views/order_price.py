"""The order form's price panel (templates/cards/_order_price.html): what it shows after
"Calculate price" and live as the buyer types."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from billing.money import ZERO, format_cny
from billing.services.credit import CreditPosition
from cards.services.orders import CheckedOrder


@dataclass
class PriceSummary:
    """What the price panel shows (templates/cards/_order_price.html), after "Calculate price"
    or live as the buyer types: the checked lines' totals, the credit they would use, and,
    live, the lines left out of the total."""

    checked: CheckedOrder | None
    credit: CreditPosition | None = None
    problems: list[str] = field(default_factory=list)
    # Line numbers not filled in enough to price yet (live only).
    incomplete: list[int] = field(default_factory=list)
    live: bool = False

    @property
    def adjustment(self) -> Decimal:
        """The discount (or service fee) between face value and price, as a positive amount."""
        return abs(self.checked.total - self.checked.face_total) if self.checked else ZERO

    @property
    def is_fee(self) -> bool:
        return self.checked is not None and self.checked.total > self.checked.face_total

    @property
    def platform_review(self) -> str:
        """The platform limit, shown when the order reaches it (an operator reviews it)."""
        limit = settings.ORDER_PLATFORM_LIMIT
        reached = self.checked is not None and self.checked.total >= limit
        return format_cny(limit) if reached else ""

    @property
    def over_credit(self) -> bool:
        return (
            self.checked is not None
            and self.credit is not None
            and self.checked.total > self.credit.available
        )
