# The SQL below is assembled from this module's constants only; every value is bound.
"""Matching an expense report's claim lines to the company's card spend (issue 16).

Set-based: every stage is one SQL statement over temporary tables (``expm_*``) that hold the
report's lines, the company's cards and redemptions they can concern, and the candidates; no
line is looked at in Python, so the worker's memory does not grow with the report. The same SQL
runs on PostgreSQL and SQLite (the few differences are the ``_Dialect`` expressions). Amounts are
compared in whole fen (integers), dates as days since 1970-01-01 in Asia/Shanghai.

The rules, in the order they are applied to each line the run may touch (not resolved, no manual
match, its period not closed):

1. **duplicate by fapiao**: the same fapiao number on an earlier line of the company (an earlier
   report, or an earlier row of this one);
2. the strongest identifier the line gives picks its candidates: the merchant order reference
   (any date), else the card serial, else the last 4 among the employee's cards, else the
   employee's cards; the last three with the transaction's day within ``EXPENSE_MATCH_DAYS`` of
   the expense date. An identifier that finds none of the company's cards or redemptions:
   **unknown**; a card (or referenced redemption) of another employee: **other employee**;
3. **matched**: one redemption whose amount left is the claim, the nearest day first, then the
   oldest redemption; a redemption wanted by several lines goes to the first in row order, the
   others try their next candidate;
4. **matched**: all of the employee's candidate redemptions of one day (two or more) together
   equal the claim (one line, several redemptions);
5. **matched**: one redemption whose amount left covers the claim (several lines may share one
   redemption: a split; allocations never exceed what is left of it), same order as 3.;
6. **amount differs**: the candidate whose amount left is nearest the claim;
   ``difference`` = claim - spend;
7. **duplicate**: candidates exist but earlier lines have claimed them in full
   (``duplicate_of`` the earliest of those lines);

   5 and 6 need a line that names the redemption or its card (reference, serial, last 4): a
   line with only the employee is matched by the exact amount (3, 4) or not at all, and is a
   duplicate (7) only of spend of its exact amount;
8. **no spend found**: nothing else.

A redemption's amount is net of its refunds; a voided redemption counts as nothing. Claims of
earlier reports (lower id) and the lines this run keeps are taken first; a later report's claims
are not seen, so a re-run gives the same result.
"""

from .base import MATCHABLE, POSTGRESQL, SQLITE, Progress
from .run import (
    _Run,
    report_match,
    report_match_new_lines,
    stage_lines,
    temporary_tables,
)

__all__ = [
    "MATCHABLE",
    "POSTGRESQL",
    "SQLITE",
    "Progress",
    "_Run",
    "report_match",
    "report_match_new_lines",
    "stage_lines",
    "temporary_tables",
]
