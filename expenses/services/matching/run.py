# The SQL below is assembled from this module's constants only; every value is bound.
"""Matching's entry points: a report's run (its lock, its temporary tables) and its finish."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterable, Iterator

from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    LineState,
    ReportStatus,
)
from expenses.services.intake.base import LINE_FIELDS
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit

from .base import (
    LOCK_NAMESPACE,
    MATCHABLE,
    ROUNDS,
    TEMP_TABLES,
    Progress,
)
from .choosing import _Choosing
from .reading import _Reading
from .writing import _Writing


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


class _Run(_Reading, _Choosing, _Writing):
    """One matching run: the stages, each a statement or two over the temporary tables."""

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
