"""What a compliance report may count: live data only, never a sandbox's test data.

Test API keys act on a company's sandbox (docs/api.md, "Test mode"). Every report kind starts
its queries here, so that no test order, card or company ever reaches a filing:

- ``live_companies()``: the real companies;
- ``live_rows(queryset)``: the rows of a real company (orders, batches, registrations,
  invoices...; ``company_field`` for another path, e.g. ``"batch__company"``);
- ``live_cards()``: the real cards (``Card.is_test`` is False), with no join.

Ledger postings need no filter: a sandbox posts nothing.
"""

from __future__ import annotations

from cards.selectors import live_cards
from portal.live_data import live_companies, live_rows

__all__ = ["live_cards", "live_companies", "live_rows"]
