"""Expiry the way the single-purpose prepaid card regime wants it.

- ``run``: the daily expiry of bearer cards past their date (set-based, in id ranges), their
  balances moved to the expired-balance liability;
- ``reactivation``: an operator reactivates an expired card on its holder's request;
- ``breakage``: operators' reviewed, reversible decisions to recognise old expired balances as
  income; ``report``: a decision's cards and totals as CSV or XLSX;
- ``reminders``: the buyer's finance contacts and link-delivered recipients warned before expiry;
- ``base``: shared rules; ``breakage_card_reverse``, which the card service's exchange and void
  call too for an expired card, and ``expired_balance_restore``.
"""

from .base import ExpiryAction, bearer_cards, breakage_card_reverse, expired_balance_restore
from .breakage import (
    breakage_candidates,
    breakage_cutoff,
    breakage_outstanding,
    breakage_preview,
    breakage_propose,
    breakage_reverse,
    breakage_review,
)
from .reactivation import card_find, card_reactivate
from .reminders import cards_to_remind, expiry_notice_notify, expiry_reminders_run
from .report import breakage_report_rows, breakage_report_totals, breakage_report_write
from .run import EXPIRING_STATUSES, ExpirySummary, cards_due, cards_expire, cards_expire_range

__all__ = [
    "EXPIRING_STATUSES",
    "ExpiryAction",
    "ExpirySummary",
    "bearer_cards",
    "breakage_candidates",
    "breakage_card_reverse",
    "breakage_cutoff",
    "breakage_outstanding",
    "breakage_preview",
    "breakage_propose",
    "breakage_report_rows",
    "breakage_report_totals",
    "breakage_report_write",
    "breakage_reverse",
    "breakage_review",
    "card_find",
    "card_reactivate",
    "cards_due",
    "cards_expire",
    "cards_expire_range",
    "cards_to_remind",
    "expired_balance_restore",
    "expiry_notice_notify",
    "expiry_reminders_run",
]
