# The SQL below is assembled from this module's constants only; every value is bound.
"""Matching's constants, its two SQL dialects and the plumbing every stage uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from cards.models import CardTransaction
from expenses.models import (
    ExpenseReport,
    PeriodStatus,
    ReportStatus,
)

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


class _RunBase:
    """One matching run's state and plumbing; the stages are the mixins' (reading, choosing,
    writing), put together in ``_Run``."""

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

    OPEN = "NOT EXISTS (SELECT 1 FROM expm_result r WHERE r.line_id = {0}.line_id)"
