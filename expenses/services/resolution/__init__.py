"""Finance's answer to the exception queue: accept or reject a claim line with a note, link it by
hand to a card transaction of the company (or unlink a match), re-open a resolution, and the
same for many lines at once.

Every act takes the period's row lock, then the lines' (primary-key order), then the card's of
a linked transaction, in that order, and re-checks under them: the period is open (a closed
period is frozen: ``closing.period_close`` takes the same period lock), the line belongs to the
company, its state allows the act. Each act writes one audit row per line (who, when, why) in the
same transaction. Refusals are ``DomainError``s with a code the API answers with.

A line's matches are its evidence: ``matched_amount`` is their sum and ``difference`` the claim
less it. Linking or unlinking re-states the line from its matches (``_restate``); a hand-made
match makes the line ``matched`` when it backs the whole claim, ``amount_differs`` otherwise.
"""

from expenses.services.resolution.base import (
    NOTE_MAX,
    RETURN_KINDS,
    SPEND_KINDS,
    BulkAction,
    LineStateError,
    PeriodClosed,
    open_exceptions,
    period_lock,
    period_refuse_closed,
)
from expenses.services.resolution.bulk import lines_bulk_resolve
from expenses.services.resolution.lines import line_accept, line_reject, line_reopen
from expenses.services.resolution.links import (
    SpendLeft,
    company_spend,
    line_link,
    line_unlink,
    spend_left,
)

__all__ = [
    "NOTE_MAX",
    "RETURN_KINDS",
    "SPEND_KINDS",
    "BulkAction",
    "LineStateError",
    "PeriodClosed",
    "SpendLeft",
    "company_spend",
    "line_accept",
    "line_link",
    "line_reject",
    "line_reopen",
    "line_unlink",
    "lines_bulk_resolve",
    "open_exceptions",
    "period_lock",
    "period_refuse_closed",
    "spend_left",
]
