# The SQL below is assembled from this module's constants only; every value is bound.
# ruff: noqa: S608
"""Matching's reading stages: the report's lines, the company's cards and spend they can
concern, the claims so far, and each line's candidates (or why it has none)."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connection

from expenses.models import (
    ReportStatus,
)

from .base import (
    _fen,
    _RunBase,
)


class _Reading(_RunBase):
    def _lines(self) -> None:
        d = self.dialect
        if self.staged:
            # New lines: none resolved or linked by hand yet, their periods checked open.
            source = "FROM expm_stage l"
        else:
            source = """FROM expenses_expenseline l
            JOIN expenses_reconciliationperiod p ON p.id = l.period_id
            WHERE l.report_id = %(report)s AND l.resolution = '' AND p.status <> %(closed)s
              AND NOT EXISTS (SELECT 1 FROM expenses_expensematch m
                              WHERE m.line_id = l.id AND m.manual)"""
        self._sql(
            f"""
            CREATE TEMP TABLE expm_lines AS
            SELECT l.id AS line_id, l.row_number AS row_no, l.employee_id AS employee_id,
                {d.day("l.expense_date")} AS day, {_fen("l.amount")} AS fen,
                l.merchant_reference AS ref, {d.serial("l.card_serial")} AS serial,
                CASE WHEN l.card_last4 <> '' THEN CAST(l.card_last4 AS INTEGER) END AS last4,
                l.fapiao_number AS fapiao,
                CASE WHEN l.merchant_reference <> '' THEN 'reference'
                     WHEN l.card_serial <> '' THEN 'serial'
                     WHEN l.card_last4 <> '' THEN 'last4'
                     ELSE 'employee' END AS ev
            {source}
            """
        )
        self._sql("CREATE UNIQUE INDEX expm_lines_id ON expm_lines (line_id)")
        self._sqlite_index("CREATE INDEX expm_lines_employee ON expm_lines (employee_id)")
        self._analyze("expm_lines")

    def _cards_and_spend(self) -> None:
        d = self.dialect
        # The company's cards a line names by serial, and the cards of a line's employee that end
        # with the line's last 4 (whether spent or not: an identifier that finds no card is
        # unknown).
        self._sql(
            """
            CREATE TEMP TABLE expm_cards AS
            SELECT c.id AS card_id, c.serial AS serial, c.serial %% 10000 AS last4,
                ol.employee_id AS employee_id
            FROM cards_card c
            JOIN cards_batch b ON b.id = c.batch_id
            JOIN cards_orderline ol ON ol.id = b.line_id
            WHERE b.company_id = %(company)s
              AND c.serial IN (SELECT serial FROM expm_lines WHERE serial IS NOT NULL)
            UNION ALL
            SELECT c.id, c.serial, c.serial %% 10000, ol.employee_id
            FROM cards_orderline ol
            JOIN cards_batch b ON b.line_id = ol.id
            JOIN cards_card c ON c.batch_id = b.id
            WHERE b.company_id = %(company)s AND ol.employee_id <> ''
              AND ol.employee_id IN (SELECT employee_id FROM expm_lines WHERE ev = 'last4')
              AND (ol.employee_id, c.serial %% 10000) IN (
                  SELECT employee_id, last4 FROM expm_lines WHERE ev = 'last4')
              AND c.serial NOT IN (SELECT serial FROM expm_lines WHERE serial IS NOT NULL)
            """
        )
        self._sql("CREATE UNIQUE INDEX expm_cards_id ON expm_cards (card_id)")
        self._sql("CREATE INDEX expm_cards_serial ON expm_cards (serial)")
        self._sql("CREATE INDEX expm_cards_employee ON expm_cards (employee_id, last4)")
        self._analyze("expm_cards")
        # The redemptions, around the report's dates, of every card given to an employee of a
        # line that names no redemption and no card (only those lines look for spend by
        # employee; a last 4 looks among the cards above) ...
        window = self._window()
        self._sql(
            f"""
            CREATE TEMP TABLE expm_spend AS
            SELECT t.id AS tx_id, t.card_id AS card_id, {d.day_ts("t.created_at")} AS day,
                t.merchant_reference AS ref, c.serial AS serial, c.serial %% 10000 AS last4,
                ol.employee_id AS employee_id, {_fen("-t.amount")} AS net,
                {_fen("-t.amount")} AS avail
            FROM cards_orderline ol
            JOIN cards_batch b ON b.line_id = ol.id
            JOIN cards_card c ON c.batch_id = b.id
            JOIN cards_cardtransaction t ON t.card_id = c.id
            WHERE b.company_id = %(company)s AND ol.employee_id <> ''
              AND ol.employee_id IN (SELECT employee_id FROM expm_lines
                                     WHERE ev = 'employee' AND employee_id <> '')
              AND t.kind = %(redeem)s
              AND t.created_at >= %(since)s AND t.created_at < %(until)s
            """,
            **window,
        )
        self._sql("CREATE UNIQUE INDEX expm_spend_id ON expm_spend (tx_id)")
        # ... of the cards above (named by serial, or by the last 4 among the employee's) ...
        self._sql(
            f"""
            INSERT INTO expm_spend (tx_id, card_id, day, ref, serial, last4, employee_id, net,
                avail)
            SELECT t.id, t.card_id, {d.day_ts("t.created_at")}, t.merchant_reference,
                k.serial, k.last4, k.employee_id, {_fen("-t.amount")}, {_fen("-t.amount")}
            FROM expm_cards k JOIN cards_cardtransaction t ON t.card_id = k.card_id
            WHERE t.kind = %(redeem)s
              AND t.created_at >= %(since)s AND t.created_at < %(until)s
              AND NOT EXISTS (SELECT 1 FROM expm_spend s WHERE s.tx_id = t.id)
            """,
            **window,
        )
        # ... and the redemptions a line's reference names, any day, of any card of the company.
        self._sql(
            f"""
            INSERT INTO expm_spend (tx_id, card_id, day, ref, serial, last4, employee_id, net,
                avail)
            SELECT t.id, t.card_id, {d.day_ts("t.created_at")}, t.merchant_reference,
                c.serial, c.serial %% 10000, ol.employee_id, {_fen("-t.amount")},
                {_fen("-t.amount")}
            FROM cards_cardtransaction t
            JOIN cards_card c ON c.id = t.card_id
            JOIN cards_batch b ON b.id = c.batch_id
            JOIN cards_orderline ol ON ol.id = b.line_id
            WHERE t.kind = %(redeem)s AND b.company_id = %(company)s
              AND t.merchant_reference <> ''
              AND t.merchant_reference IN (SELECT ref FROM expm_lines WHERE ref <> '')
              AND NOT EXISTS (SELECT 1 FROM expm_spend s WHERE s.tx_id = t.id)
            """
        )
        self._analyze("expm_spend")
        # Net of refunds; a voided redemption is worth nothing.
        self._sql(
            f"""
            CREATE TEMP TABLE expm_returns AS
            SELECT r.original_id AS tx_id,
                SUM(CASE WHEN r.kind = %(refund)s THEN {_fen("r.amount")} ELSE 0 END) AS refunded,
                MAX(CASE WHEN r.kind = %(void)s THEN 1 ELSE 0 END) AS voided
            FROM cards_cardtransaction r
            JOIN expm_spend s ON s.tx_id = r.original_id
            WHERE r.kind IN (%(refund)s, %(void)s)
            GROUP BY r.original_id
            """
        )
        self._sql(
            """
            UPDATE expm_spend SET
                net = CASE WHEN x.voided = 1 THEN 0 ELSE expm_spend.net - x.refunded END,
                avail = CASE WHEN x.voided = 1 THEN 0 ELSE expm_spend.net - x.refunded END
            FROM expm_returns x WHERE x.tx_id = expm_spend.tx_id
            """
        )
        self._sqlite_index("CREATE INDEX expm_spend_ref ON expm_spend (ref)")
        self._sqlite_index("CREATE INDEX expm_spend_serial ON expm_spend (serial, day)")
        self._sqlite_index("CREATE INDEX expm_spend_employee ON expm_spend (employee_id, day)")

    def _window(self) -> dict[str, Any]:
        """UTC bounds of the days the report's lines reach, a day wider than the window on each
        side (each row's day in Asia/Shanghai is then compared exactly)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT MIN(day), MAX(day) FROM expm_lines")
            first, last = cursor.fetchone()
        if first is None:
            now = self.params["now"]
            return {"since": now, "until": now}
        margin = self.params["days"] + 1
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
        return {
            "since": epoch + datetime.timedelta(days=int(first) - margin),
            "until": epoch + datetime.timedelta(days=int(last) + margin + 1),
        }

    def _claims_so_far(self) -> None:
        """What earlier reports (and this report's lines the run leaves alone) already claim of
        each redemption; the rest of it is ``avail``."""
        self._sql(
            f"""
            CREATE TEMP TABLE expm_claimers AS
            SELECT m.transaction_id AS tx_id, m.line_id AS line_id, l.report_id AS report_id,
                l.row_number AS row_no, {_fen("m.amount")} AS fen
            FROM expenses_expensematch m
            JOIN expenses_expenseline l ON l.id = m.line_id
            JOIN expenses_expensereport r ON r.id = l.report_id
            WHERE l.company_id = %(company)s AND r.status <> %(discarded)s
              AND m.transaction_id IN (SELECT tx_id FROM expm_spend)
              AND (l.report_id < %(report)s
                   OR (l.report_id = %(report)s
                       AND NOT EXISTS (SELECT 1 FROM expm_lines x WHERE x.line_id = l.id)))
            """,
            discarded=ReportStatus.DISCARDED.value,
        )
        self._sql("CREATE INDEX expm_claimers_tx ON expm_claimers (tx_id, report_id, row_no)")
        self._sql(
            """
            UPDATE expm_spend SET avail = CASE WHEN expm_spend.avail > c.fen
                                               THEN expm_spend.avail - c.fen ELSE 0 END
            FROM (SELECT tx_id, SUM(fen) AS fen FROM expm_claimers GROUP BY tx_id) c
            WHERE c.tx_id = expm_spend.tx_id
            """
        )
        self.answer_tables()

    def _fapiao_duplicates(self) -> None:
        # A staged report's own earlier rows are in expm_lines, not yet in the table.
        own_rows = (
            """
                UNION ALL
                SELECT x.line_id, x.fen, o.line_id, %(report)s, o.row_no
                FROM expm_lines x JOIN expm_lines o ON o.fapiao = x.fapiao
                WHERE x.fapiao <> '' AND o.fapiao <> '' AND o.row_no < x.row_no"""
            if self.staged
            else ""
        )
        self._result(
            f"""
            SELECT line_id, 'duplicate', 'fapiao', NULL, fen, 0, dup_id FROM (
                SELECT line_id, fen, dup_id, ROW_NUMBER() OVER (
                    PARTITION BY line_id ORDER BY dup_report, dup_row) AS rn
                FROM (
                SELECT x.line_id, x.fen, o.id AS dup_id, o.report_id AS dup_report,
                    o.row_number AS dup_row
                FROM expm_lines x
                JOIN expenses_expenseline o
                    ON o.company_id = %(company)s AND o.fapiao_number = x.fapiao
                JOIN expenses_expensereport r ON r.id = o.report_id
                WHERE x.fapiao <> '' AND r.status <> %(discarded)s
                  AND (o.report_id < %(report)s
                       OR (o.report_id = %(report)s AND o.row_number < x.row_no)){own_rows}
                ) earlier
            ) f WHERE rn = 1
            """,
            discarded=ReportStatus.DISCARDED.value,
        )

    def _candidates(self) -> None:
        within = "s.day BETWEEN x.day - %(days)s AND x.day + %(days)s"
        columns = """x.line_id AS line_id, x.row_no AS row_no, x.fen AS fen, x.ev AS ev,
            s.tx_id AS tx_id, s.card_id AS card_id, s.day AS tday, ABS(s.day - x.day) AS dd,
            CASE WHEN s.employee_id <> '' AND s.employee_id <> x.employee_id
                 THEN 1 ELSE 0 END AS other"""
        open_line = "NOT EXISTS (SELECT 1 FROM expm_result r WHERE r.line_id = x.line_id)"
        self._sql(
            f"""
            CREATE TEMP TABLE expm_cand AS
            SELECT {columns} FROM expm_lines x JOIN expm_spend s ON s.ref = x.ref
            WHERE x.ev = 'reference' AND {open_line}
            UNION ALL
            SELECT {columns} FROM expm_lines x JOIN expm_spend s ON s.serial = x.serial
            WHERE x.ev = 'serial' AND {within} AND {open_line}
            UNION ALL
            SELECT {columns} FROM expm_lines x JOIN expm_spend s ON s.employee_id = x.employee_id
            WHERE x.ev IN ('last4', 'employee') AND x.employee_id <> ''
              AND (x.ev = 'employee' OR s.last4 = x.last4) AND {within} AND {open_line}
            """
        )
        self._sql("CREATE INDEX expm_cand_line ON expm_cand (line_id)")
        self._sql("CREATE INDEX expm_cand_tx ON expm_cand (tx_id)")
        self._analyze("expm_cand")

    def _unknown_and_other_employee(self) -> None:
        open_x = self.OPEN.format("x")
        # A reference none of the company's redemptions has.
        self._result(
            f"""
            SELECT x.line_id, 'unknown', 'reference', NULL, x.fen, 0, NULL FROM expm_lines x
            WHERE x.ev = 'reference' AND {open_x}
              AND NOT EXISTS (SELECT 1 FROM expm_cand c WHERE c.line_id = x.line_id)
            """
        )
        # A reference whose redemptions were all made with other employees' cards.
        self._result(
            f"""
            SELECT x.line_id, 'other_employee', 'reference', MIN(c.card_id), x.fen, 0, NULL
            FROM expm_lines x JOIN expm_cand c ON c.line_id = x.line_id
            WHERE x.ev = 'reference' AND {open_x}
            GROUP BY x.line_id, x.fen HAVING MIN(c.other) = 1
            """
        )
        # A serial that is not one of the company's cards (or not a serial at all).
        self._result(
            f"""
            SELECT x.line_id, 'unknown', 'serial', NULL, x.fen, 0, NULL FROM expm_lines x
            WHERE x.ev = 'serial' AND {open_x}
              AND (x.serial IS NULL
                   OR NOT EXISTS (SELECT 1 FROM expm_cards k WHERE k.serial = x.serial))
            """
        )
        # The card of the serial was given to another employee.
        self._result(
            f"""
            SELECT x.line_id, 'other_employee', 'serial', k.card_id, x.fen, 0, NULL
            FROM expm_lines x JOIN expm_cards k ON k.serial = x.serial
            WHERE x.ev = 'serial' AND {open_x}
              AND k.employee_id <> '' AND k.employee_id <> x.employee_id
            """
        )
        # Last 4 digits that none of the employee's cards ends with.
        self._result(
            f"""
            SELECT x.line_id, 'unknown', 'last4', NULL, x.fen, 0, NULL FROM expm_lines x
            WHERE x.ev = 'last4' AND {open_x}
              AND NOT EXISTS (SELECT 1 FROM expm_cards k
                              WHERE k.employee_id = x.employee_id AND k.last4 = x.last4)
            """
        )
