# The SQL below is assembled from this module's constants only; every value is bound.
# ruff: noqa: S608
"""Matching's write: new lines inserted with their answers, or a re-run's answers updated."""

from __future__ import annotations

import datetime

from django.db import connection

from expenses.models import (
    LineState,
)
from expenses.services.intake.base import LINE_FIELDS

from .base import (
    WRITE_CHUNK,
    _RunBase,
)


class _Writing(_RunBase):
    def write_staged(self, periods: dict[datetime.date, int]) -> None:
        """Insert the staged lines with their answers, then their matches (inside the caller's
        transaction): each line is written once, with no update after."""
        d = self.dialect
        months = sorted(periods)
        self._sql(
            f"""
            INSERT INTO expenses_expenseline (id, public_id, report_id, company_id, period_id,
                row_number, {", ".join(LINE_FIELDS)}, state, evidence, card_id, matched_amount,
                difference, duplicate_of_id, resolution, resolution_note)
            SELECT s.id, gen_random_uuid(), %(report)s, %(company)s, p.period_id, s.row_number,
                {", ".join("s." + name for name in LINE_FIELDS)},
                COALESCE(r.state, %(pending)s), COALESCE(r.ev, ''), r.card_id,
                {d.money("COALESCE(r.matched, 0)")},
                CASE WHEN r.state IN ('matched', 'amount_differs')
                     THEN {d.money("r.fen - r.matched")} ELSE 0 END,
                r.dup_id, '', ''
            FROM expm_stage s
            JOIN unnest(%(months)s::date[], %(period_ids)s::bigint[]) AS p (month, period_id)
                ON p.month = s.month
            LEFT JOIN expm_result r ON r.line_id = s.id
            ORDER BY s.id
            """,
            pending=LineState.PENDING.value,
            months=months,
            period_ids=[periods[month] for month in months],
        )
        self._insert_matches()

    def _insert_matches(self) -> None:
        d = self.dialect
        self._sql(
            f"""
            INSERT INTO expenses_expensematch
                (line_id, transaction_id, amount, manual, created_at)
            SELECT line_id, tx_id, {d.money("fen")}, FALSE, %(now)s
            FROM expm_match ORDER BY line_id, tx_id
            """
        )

    def write(self) -> None:
        """Replace the touched lines' automatic matches and answers (one transaction)."""
        d = self.dialect
        self._sql(
            """
            DELETE FROM expenses_expensematch WHERE NOT manual
              AND line_id IN (SELECT line_id FROM expm_lines)
            """
        )
        self._insert_matches()
        with connection.cursor() as cursor:
            cursor.execute("SELECT MIN(line_id), MAX(line_id) FROM expm_result")
            low, high = cursor.fetchone()
        if low is None:
            return
        for start in range(int(low), int(high) + 1, WRITE_CHUNK):
            self._sql(
                f"""
                UPDATE expenses_expenseline SET state = r.state, evidence = r.ev,
                    card_id = r.card_id, matched_amount = {d.money("r.matched")},
                    difference = CASE WHEN r.state IN ('matched', 'amount_differs')
                                      THEN {d.money("r.fen - r.matched")} ELSE 0 END,
                    duplicate_of_id = r.dup_id
                FROM expm_result r
                WHERE r.line_id = expenses_expenseline.id
                  AND r.line_id >= %(start)s AND r.line_id < %(end)s
                """,
                start=start,
                end=start + WRITE_CHUNK,
            )
