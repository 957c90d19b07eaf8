# The SQL below is assembled from this module's constants only; every value is bound.
# ruff: noqa: S608
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

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from cards.models import CardTransaction
from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    LineState,
    PeriodStatus,
    ReportStatus,
)
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit

from .intake.base import LINE_FIELDS

Progress = Callable[[int, int], None]
MATCHABLE = (ReportStatus.MATCHING, ReportStatus.MATCHED)

# Rounds of the first-choice pass: a redemption contested by more claims than it covers sends the
# later ones to their next candidate, once per round.
ROUNDS = 12
# Lines written back per UPDATE (and per progress report).
WRITE_CHUNK = 20_000
TEMP_TABLES = (
    "expm_stage",
    "expm_lines",
    "expm_cards",
    "expm_spend",
    "expm_claimers",
    "expm_result",
    "expm_match",
    "expm_cand",
    "expm_pick",
    "expm_returns",
    "expm_grp",
)
LOCK_NAMESPACE = 0x45584D  # "EXM": one matching run per company at a time (PostgreSQL)


@dataclass(frozen=True)
class _Dialect:
    day_of_timestamp: str  # {0}: a UTC timestamp column -> day number in Asia/Shanghai
    day_of_date: str  # {0}: a date column -> day number
    serial_of_text: str  # {0}: a text column -> its number when it is one, else NULL
    money_of_fen: str  # {0}: whole fen -> an amount

    def day_ts(self, column: str) -> str:
        return self.day_of_timestamp.format(column)

    def day(self, column: str) -> str:
        return self.day_of_date.format(column)

    def serial(self, column: str) -> str:
        return self.serial_of_text.format(column)

    def money(self, column: str) -> str:
        return self.money_of_fen.format(column)


POSTGRESQL = _Dialect(
    day_of_timestamp="((({0}) AT TIME ZONE 'Asia/Shanghai')::date - DATE '1970-01-01')",
    day_of_date="(({0}) - DATE '1970-01-01')",
    serial_of_text="(CASE WHEN ({0}) ~ '^[0-9]{{1,18}}$' THEN CAST(({0}) AS BIGINT) END)",
    money_of_fen="(CAST(({0}) AS NUMERIC) / 100)",
)
# Django keeps SQLite timestamps as UTC text; Asia/Shanghai is UTC+8 all year.
SQLITE = _Dialect(
    day_of_timestamp="CAST(julianday(({0}), '+8 hours') - 2440587.5 AS INTEGER)",
    day_of_date="CAST(julianday({0}) - 2440587.5 AS INTEGER)",
    serial_of_text=(
        "(CASE WHEN ({0}) <> '' AND length({0}) <= 18 AND ({0}) NOT GLOB '*[^0-9]*' "
        "THEN CAST(({0}) AS BIGINT) END)"
    ),
    money_of_fen="(({0}) / 100.0)",
)


def _fen(column: str) -> str:
    return f"CAST(ROUND(({column}) * 100) AS BIGINT)"


def report_match(*, report_id: int, progress: Progress | None = None) -> ExpenseReport:
    """Match every line of the report (status MATCHING) and leave it MATCHED with its counts in
    ``result["states"]``. ``progress(done, total)`` is called after each stage (``total`` is the
    number of lines). Re-running a MATCHED report matches it again, with the same result. A
    report discarded while it was being matched is left as it is (nothing written)."""
    report = ExpenseReport.objects.get(pk=report_id)
    if report.status not in MATCHABLE:
        raise ValueError(f"report {report_id} is {report.status}: only a checked report matches")
    total = ExpenseLine.objects.filter(report_id=report_id).count()
    run = _Run(report=report, total=total, progress=progress)
    with _company_lock(report.company_id), temporary_tables(), _no_jit():
        run.compute()
        with transaction.atomic():
            report = ExpenseReport.objects.select_for_update().get(pk=report_id)
            if report.status not in MATCHABLE:
                return report
            run.write()
            report = _finish(report)
    if progress is not None:
        progress(total, total)
    return report


def report_match_new_lines(
    *,
    report: ExpenseReport,
    total: int,
    records: Iterable[str],
    prepare: Callable[[ExpenseReport], dict[datetime.date, int] | None],
    progress: Progress | None = None,
) -> ExpenseReport:
    """Match a checked report's new lines before they are written (PostgreSQL), then write
    each line once, with its answer, and its matches, in one transaction.

    ``records`` are the lines in COPY text (row, month, then ``LINE_FIELDS``, tab-separated, one
    per line); ``prepare(locked_report)``, inside the writing transaction, gives the period of
    each month (after checking them open) or None to write nothing (the report was discarded
    meanwhile). The report ends MATCHED, as ``report_match`` leaves it."""
    run = _Run(report=report, total=total, progress=progress, staged=True)
    with _company_lock(report.company_id), temporary_tables(), _no_jit():
        stage_lines(records)
        run.compute()
        with transaction.atomic():
            locked = ExpenseReport.objects.select_for_update().get(pk=report.pk)
            periods = prepare(locked)
            if periods is None:
                return locked
            run.write_staged(periods)
            locked = _finish(locked)
    if progress is not None:
        progress(total, total)
    return locked


def stage_lines(records: Iterable[str]) -> None:
    """``expm_stage``: the new lines, each with the id it will have (from the line table's own
    sequence), so matches and duplicates can name it before it is written."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('expenses_expenseline', 'id')")
        sequence = str(cursor.fetchone()[0])
        if not sequence.replace("_", "").replace(".", "").replace('"', "").isalnum():
            raise ValueError(f"unexpected sequence name {sequence!r}")
        text = ", ".join(f"{name} TEXT NOT NULL" for name in LINE_FIELDS if name not in _TYPED)
        cursor.execute(
            f"""
            CREATE TEMP TABLE expm_stage (
                id BIGINT NOT NULL DEFAULT nextval('{sequence}'::regclass),
                row_number INTEGER NOT NULL, month DATE NOT NULL,
                expense_date DATE NOT NULL, amount NUMERIC(14, 2) NOT NULL, {text})
            """
        )
        columns = ", ".join(("row_number", "month", *LINE_FIELDS))
        block: list[str] = []
        with cursor.cursor.copy(f"COPY expm_stage ({columns}) FROM STDIN") as copy:
            for record in records:
                block.append(record)
                if len(block) >= 5000:
                    copy.write("".join(block))
                    block.clear()
            if block:
                copy.write("".join(block))


_TYPED = ("expense_date", "amount")


@contextlib.contextmanager
def _no_jit() -> Iterator[None]:
    """PostgreSQL compiles a statement it expects to be costly (JIT) before running it; matching's
    statements over temporary tables are estimated far above what they cost, and compiling them
    took about a second of a 100,000-line report's 13 (docs/benchmarks.md, "reconcile")."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET jit")


@contextlib.contextmanager
def _company_lock(company_id: int) -> Iterator[None]:
    """Two reports of one company are never matched at once (each sees the other's claims only
    once written)."""
    if connection.vendor != "postgresql":
        yield
        return
    if connection.in_atomic_block:  # held to the end of the caller's transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, company_id])
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, company_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, company_id])


@contextlib.contextmanager
def temporary_tables() -> Iterator[None]:
    _drop_temporary_tables()
    try:
        yield
    finally:
        # After a failed statement inside the caller's transaction nothing more can run in it:
        # the error in flight is the one to see (the next run drops what is left).
        with contextlib.suppress(DatabaseError):
            _drop_temporary_tables()


def _drop_temporary_tables() -> None:
    with connection.cursor() as cursor:
        for name in TEMP_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _finish(report: ExpenseReport) -> ExpenseReport:
    counts = dict(
        ExpenseLine.objects.filter(report=report)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by("state")
    )
    states = {state: counts.get(state, 0) for state in LineState.values if state in counts}
    report.status = ReportStatus.MATCHED
    report.matched_at = timezone.now()
    report.rows_done = report.rows_total or sum(states.values())
    report.result = {**(report.result or {}), "states": states}
    report.save(update_fields=["status", "matched_at", "rows_done", "result"])
    audit_record(
        action=ExpenseAction.REPORT_MATCHED,
        actor_label="matching",
        company=report.company,
        obj=report,
        changes={"states": states},
    )
    emit(
        report.company_id,
        EventType.EXPENSE_REPORT_MATCHED,
        report,
        {"id": str(report.public_id), "lines": report.rows_done, "states": states},
    )
    return report


class _Run:
    """One matching run: the stages, each a statement or two over the temporary tables."""

    STAGES = 12  # for the progress figure: the stages of compute(), then the write

    def __init__(
        self,
        *,
        report: ExpenseReport,
        total: int,
        progress: Progress | None,
        staged: bool = False,
    ) -> None:
        self.report = report
        # staged: the report's lines are new, in ``expm_stage`` (see stage_lines), not yet in
        # expenses_expenseline; write_staged() inserts them with their answers.
        self.staged = staged
        self.total = total
        self.progress = progress
        self.dialect = POSTGRESQL if connection.vendor == "postgresql" else SQLITE
        self.params: dict[str, Any] = {
            "report": report.pk,
            "company": report.company_id,
            "days": int(settings.EXPENSE_MATCH_DAYS),
            "closed": PeriodStatus.CLOSED.value,
            "redeem": CardTransaction.Kind.REDEEM.value,
            "refund": CardTransaction.Kind.REFUND.value,
            "void": CardTransaction.Kind.REDEEM_VOID.value,
            "now": timezone.now(),
        }
        self.stages_done = 0

    # --- plumbing -----------------------------------------------------------------------------

    def _sql(self, sql: str, **extra: Any) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, {**self.params, **extra} if ("%(" in sql) else None)
            return int(cursor.rowcount or 0)

    def _sqlite_index(self, sql: str) -> None:
        """An index SQLite's nested-loop joins need; PostgreSQL hashes the large temporary
        tables instead, and building the index would cost more than it saves."""
        if connection.vendor != "postgresql":
            self._sql(sql)

    def _analyze(self, *tables: str) -> None:
        if connection.vendor == "postgresql":
            for table in tables:
                self._sql(f"ANALYZE {table}")

    def _stage(self) -> None:
        self.stages_done += 1
        if self.progress is not None:
            done = min(self.total, self.total * self.stages_done // (self.STAGES + 1))
            self.progress(done, self.total)

    # --- compute ------------------------------------------------------------------------------

    def compute(self) -> None:
        self._lines()
        self._stage()
        self._cards_and_spend()
        self._stage()
        self._claims_so_far()
        self._stage()
        self._fapiao_duplicates()
        self._stage()
        self._candidates()
        self._stage()
        self._unknown_and_other_employee()
        self._stage()
        for _round in range(ROUNDS):
            if not self._first_choice(exact=True):
                break
        self._stage()
        self._same_day_splits()
        self._stage()
        for _round in range(ROUNDS):
            if not self._first_choice(exact=False):
                break
        self._stage()
        for _round in range(ROUNDS):
            if not self._nearest_amount():
                break
        self._stage()
        self._spend_claimed_in_full()
        self._stage()
        self._no_spend()
        self._stage()

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

    def answer_tables(self) -> None:
        """The tables of the answers: each line's (expm_result) and its matches (expm_match)."""
        self._sql(
            """
            CREATE TEMP TABLE expm_result (line_id BIGINT PRIMARY KEY, state VARCHAR(16),
                ev VARCHAR(16), card_id BIGINT, fen BIGINT, matched BIGINT, dup_id BIGINT)
            """
        )
        self._sql("CREATE TEMP TABLE expm_match (line_id BIGINT, tx_id BIGINT, fen BIGINT)")

    def _result(self, select: str, **extra: Any) -> int:
        """Insert ``select``'s rows (line_id, state, ev, card_id, fen, matched, dup_id)."""
        return self._sql(
            "INSERT INTO expm_result (line_id, state, ev, card_id, fen, matched, dup_id) " + select,
            **extra,
        )

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

    OPEN = "NOT EXISTS (SELECT 1 FROM expm_result r WHERE r.line_id = {0}.line_id)"

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
