# The SQL below is assembled from this module's constants only; every value is bound.
# ruff: noqa: S608
"""Matching's choosing stages: which candidate each line takes, round by round, and the
answers of the lines left."""

from __future__ import annotations

from django.db import connection

from .base import (
    _RunBase,
)


class _Choosing(_RunBase):
    def _accept(self, accepted: str, *, state: str) -> int:
        """Record the rows of table ``accepted`` (line_id, tx_id, card_id, ev, row_no, fen, alloc)
        as matches, and take what they claim off each redemption."""
        n = self._result(
            f"""
            SELECT line_id, {state}, MIN(ev), MIN(card_id), MIN(fen), SUM(alloc), NULL
            FROM {accepted} GROUP BY line_id
            """
        )
        if not n:
            return 0
        self._sql(
            "INSERT INTO expm_match (line_id, tx_id, fen) "
            f"SELECT line_id, tx_id, alloc FROM {accepted}"
        )
        self._sql(
            f"""
            UPDATE expm_spend SET avail = expm_spend.avail - a.alloc
            FROM (SELECT tx_id, SUM(alloc) AS alloc FROM {accepted} GROUP BY tx_id) a
            WHERE a.tx_id = expm_spend.tx_id
            """
        )
        return n

    def _accept_contested(self, state: str = "'matched'") -> int:
        """Accept the picks of ``expm_pick`` that got their redemption (``later`` = 0); the
        number of lines that did not (another round may find them another)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM expm_pick WHERE later = 1")
            contested = int(cursor.fetchone()[0])
        if contested:
            self._sql("DELETE FROM expm_pick WHERE later = 1")
        self._accept("expm_pick", state=state)
        return contested

    def _first_choice(self, *, exact: bool) -> int:
        """Each open line takes its best redemption whose amount left is the claim (``exact``)
        or covers it (a split); a redemption goes to the lines in row order while it covers
        them. The number of lines left for another round."""
        open_c = self.OPEN.format("c")
        # A split of one redemption needs a line that names it or its card.
        fits = "s.avail = c.fen" if exact else "s.avail >= c.fen AND c.ev <> 'employee'"
        self._sql("DROP TABLE IF EXISTS expm_pick")
        self._sql(
            f"""
            CREATE TEMP TABLE expm_pick AS
            SELECT line_id, tx_id, card_id, ev, row_no, fen, fen AS alloc,
                CASE WHEN p.cum <= p.avail THEN 0 ELSE 1 END AS later FROM (
                SELECT q.*, SUM(q.fen) OVER (
                    PARTITION BY q.tx_id ORDER BY q.row_no ROWS UNBOUNDED PRECEDING) AS cum
                FROM (
                    SELECT c.line_id, c.tx_id, c.card_id, c.ev, c.row_no, c.fen, s.avail,
                        ROW_NUMBER() OVER (PARTITION BY c.line_id ORDER BY
                            CASE WHEN s.avail = c.fen THEN 0 ELSE 1 END, c.dd, c.tx_id) AS rn
                    FROM expm_cand c JOIN expm_spend s ON s.tx_id = c.tx_id
                    WHERE c.other = 0 AND c.fen > 0 AND {fits} AND {open_c}
                ) q WHERE q.rn = 1
            ) p
            """
        )
        return self._accept_contested()

    def _same_day_splits(self) -> None:
        """A line that all of one day's candidate redemptions (two or more) together cover
        exactly; a redemption wanted by two such lines goes to the first."""
        open_c = self.OPEN.format("c")
        self._sql(
            f"""
            CREATE TEMP TABLE expm_grp AS
            SELECT line_id, tday FROM (
                SELECT c.line_id, c.tday, ROW_NUMBER() OVER (
                    PARTITION BY c.line_id ORDER BY MIN(c.dd), c.tday) AS rn
                FROM expm_cand c JOIN expm_spend s ON s.tx_id = c.tx_id
                WHERE c.other = 0 AND s.avail > 0 AND {open_c}
                GROUP BY c.line_id, c.tday, c.fen
                HAVING COUNT(*) >= 2 AND SUM(s.avail) = c.fen
            ) g WHERE rn = 1
            """
        )
        self._sql("DROP TABLE IF EXISTS expm_pick")
        self._sql(
            """
            CREATE TEMP TABLE expm_pick AS
            SELECT c.line_id, c.tx_id, c.card_id, c.ev, c.row_no, c.fen, s.avail AS alloc,
                ROW_NUMBER() OVER (PARTITION BY c.tx_id ORDER BY c.row_no) AS rk
            FROM expm_grp g
            JOIN expm_cand c ON c.line_id = g.line_id AND c.tday = g.tday
            JOIN expm_spend s ON s.tx_id = c.tx_id
            WHERE c.other = 0 AND s.avail > 0
            """
        )
        self._sql(
            """
            DELETE FROM expm_pick WHERE line_id IN (
                SELECT line_id FROM expm_pick GROUP BY line_id HAVING MAX(rk) > 1)
            """
        )
        self._accept("expm_pick", state="'matched'")

    def _nearest_amount(self) -> int:
        """Each open line takes the candidate whose amount left is nearest its claim; one line
        per redemption (the first in row order); the number of lines left for another round."""
        open_c = self.OPEN.format("c")
        self._sql("DROP TABLE IF EXISTS expm_pick")
        self._sql(
            f"""
            CREATE TEMP TABLE expm_pick AS
            SELECT line_id, tx_id, card_id, ev, row_no, fen,
                CASE WHEN avail < fen THEN avail ELSE fen END AS alloc, later FROM (
                SELECT q.*, CASE WHEN ROW_NUMBER() OVER (
                    PARTITION BY q.tx_id ORDER BY q.row_no) = 1 THEN 0 ELSE 1 END AS later
                FROM (
                    SELECT c.line_id, c.tx_id, c.card_id, c.ev, c.row_no, c.fen, s.avail,
                        ROW_NUMBER() OVER (PARTITION BY c.line_id ORDER BY
                            ABS(s.avail - c.fen), c.dd, c.tx_id) AS rn
                    FROM expm_cand c JOIN expm_spend s ON s.tx_id = c.tx_id
                    WHERE c.other = 0 AND s.avail > 0 AND c.ev <> 'employee' AND {open_c}
                ) q WHERE q.rn = 1
            ) p
            """
        )
        return self._accept_contested(
            state="CASE WHEN SUM(alloc) = MIN(fen) THEN 'matched' ELSE 'amount_differs' END"
        )

    def _spend_claimed_in_full(self) -> None:
        """Candidates there are, but earlier lines claim all of them: a duplicate of the
        earliest line that claims the best of them."""
        open_c = self.OPEN.format("c")
        self._sql("CREATE INDEX expm_match_tx ON expm_match (tx_id)")
        self._result(
            f"""
            SELECT line_id, 'duplicate', ev, card_id, fen, 0, COALESCE((
                SELECT cl.line_id FROM expm_claimers cl WHERE cl.tx_id = d.tx_id
                ORDER BY cl.report_id, cl.row_no LIMIT 1), (
                SELECT m.line_id FROM expm_match m JOIN expm_lines x ON x.line_id = m.line_id
                WHERE m.tx_id = d.tx_id ORDER BY x.row_no LIMIT 1))
            FROM (
                SELECT c.line_id, c.ev, c.card_id, c.fen, c.tx_id, ROW_NUMBER() OVER (
                    PARTITION BY c.line_id ORDER BY
                        CASE WHEN s.net = c.fen THEN 0 ELSE 1 END, c.dd, c.tx_id) AS rn
                FROM expm_cand c JOIN expm_spend s ON s.tx_id = c.tx_id
                WHERE c.other = 0 AND s.net > 0 AND s.avail = 0 AND {open_c}
                  AND (c.ev <> 'employee' OR s.net = c.fen)
            ) d WHERE rn = 1
            """
        )

    def _no_spend(self) -> None:
        open_x = self.OPEN.format("x")
        self._result(
            f"""
            SELECT x.line_id, 'no_spend', x.ev,
                CASE WHEN x.ev = 'serial'
                     THEN (SELECT MIN(k.card_id) FROM expm_cards k WHERE k.serial = x.serial)
                END, x.fen, 0, NULL
            FROM expm_lines x WHERE {open_x}
            """
        )

    # --- write --------------------------------------------------------------------------------
