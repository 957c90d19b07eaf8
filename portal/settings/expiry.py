"""Expiry of bearer cards, their reactivation, breakage and the reminders before expiry
(``cards.services.expiry``). Operators tune these; the regime's minimums are in the docstrings."""

from __future__ import annotations

from .base import env

# The daily expiry walks the cards table in ranges of this many card ids, one transaction each
# (a crash loses at most one range's work; the next run picks it up).
CARD_EXPIRY_CHUNK_SIZE = env.int("CARD_EXPIRY_CHUNK_SIZE", default=20_000)
# A reactivated bearer card is valid for this many months from the reactivation (the regime's
# minimum validity of a bearer card is 36 months: never set less).
CARD_REACTIVATION_MONTHS = env.int("CARD_REACTIVATION_MONTHS", default=36)
# Breakage may be proposed only for balances of cards expired longer ago than this.
BREAKAGE_HOLDING_MONTHS = env.int("BREAKAGE_HOLDING_MONTHS", default=36)
# Days before expiry on which buyers' finance contacts and link-delivered recipients are warned,
# each once per card and expiry date.
CARD_EXPIRY_REMINDER_DAYS = tuple(
    sorted(env.list("CARD_EXPIRY_REMINDER_DAYS", cast=int, default=[30, 7]), reverse=True)
)
