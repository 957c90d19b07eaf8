"""Sections other apps add to a company's statement of account, without billing importing them.

Billing knows money; the cards app knows cards. The statement asks a registered provider for the
card activity of a company and period: a summary (figures for the PDF) and the detail rows
(every card issued in the period), which the provider streams straight into the statement's CSV
and XLSX files. ``cards.apps.CardsConfig.ready`` registers it.
"""

from __future__ import annotations

import datetime
from typing import IO, Any, Protocol


class CardActivityProvider(Protocol):
    def header(self) -> list[str]:
        """Column titles of the detail rows, in the active language."""

    def summary(
        self, *, company_id: int, start: datetime.datetime, end: datetime.datetime
    ) -> dict[str, Any]:
        """Figures for the period ``[start, end)``: JSON-ready (numbers as strings)."""

    def write_csv_rows(
        self,
        *,
        company_id: int,
        start: datetime.datetime,
        end: datetime.datetime,
        out: IO[bytes],
    ) -> int:
        """Append the detail rows as RFC 4180 CSV (CRLF, neutralised cells) to ``out``; returns
        how many rows."""

    def write_xlsx_rows(
        self,
        *,
        company_id: int,
        start: datetime.datetime,
        end: datetime.datetime,
        first_row: int,
        max_rows: int,
        out: IO[bytes],
        offset: int = 0,
    ) -> int:
        """Append at most ``max_rows`` detail rows (skipping ``offset``) as worksheet ``<row>``
        XML numbered from ``first_row`` to ``out``; returns how many rows."""


_providers: dict[str, CardActivityProvider] = {}


def register_card_activity(provider: CardActivityProvider) -> None:
    _providers["cards"] = provider


def card_activity_provider() -> CardActivityProvider | None:
    return _providers.get("cards")
