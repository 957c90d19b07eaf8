"""Checking a received expense report and writing its claim lines: every row through
``LineRules``; a report with any error is INVALID (its errors stored, capped, in every portal
language) and writes nothing; a valid one has all its lines written in one transaction, each in
its month's period, and goes to matching."""

from __future__ import annotations

import datetime
import functools
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.money import ZERO
from cards.services.uploads.messages import in_every_language
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    LineState,
    PeriodStatus,
    ReconciliationPeriod,
    ReportStatus,
)
from expenses.services.periods import period_for
from portal.copy_rows import CopyWriter, copy_text, copy_unescape
from portal.tabular import TableError

from .base import LINE_FIELDS, MAX_STORED_ERRORS, MAX_STORED_NOTES, PROGRESS_EVERY
from .reader import ReportRows, closed_months, report_rows
from .rows import LineRules

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# How many times the check runs again when a period was closed while it ran.
_MAX_ATTEMPTS = 3
_WAITING = (ReportStatus.RECEIVED, ReportStatus.CHECKING)


class _PeriodClosedMeanwhile(Exception):
    """A period of the report's lines was closed between the check and the write."""


def report_progress_recorder(report_id: int) -> Progress:
    """``progress(done, total)`` that stores the report's ``rows_done`` and ``rows_total`` (it
    is seen at once by the page that polls only when called outside a transaction, as the
    worker calls it)."""

    def record(done: int, total: int) -> None:
        ExpenseReport.objects.filter(pk=report_id).update(rows_done=done, rows_total=total)

    return record


def expense_report_check(*, report_id: int, progress: Progress | None = None) -> ExpenseReport:
    """Check a received report and, when every row passes, write its lines and match them.

    - Any row error: status INVALID, ``result["errors"]`` (row, column, value, reason; the
      first ``MAX_STORED_ERRORS``, each in every portal language) and ``error_count``; no
      ExpenseLine is written.
    - A file that cannot be read to the end: status FAILED with the reason.
    - Valid, on PostgreSQL: the lines matched before they are written
      (``expenses.services.matching.report_match_new_lines``), then written once, each with the
      period of its expense date (``period_for``) and its answer, with their matches, in one
      transaction: status MATCHED.
    - Valid, elsewhere (the embedded SQLite default): all lines written in one transaction,
      status MATCHING; then ``expenses.services.matching.report_match``.

    ``progress(done, total)`` is told the rows checked, then is handed to the matching; without
    one, outside a transaction (the worker), the report's ``rows_done``/``rows_total`` are
    stored as it goes. A report no longer waiting for its check (discarded, or checked by
    another run) is returned as it is."""
    report = ExpenseReport.objects.select_related("company").get(pk=report_id)
    if report.status not in _WAITING:
        return report
    if progress is None and not connection.in_atomic_block:
        progress = report_progress_recorder(report.pk)
    try:
        for attempt in range(_MAX_ATTEMPTS):
            try:
                report = _check(report, progress)
                break
            except _PeriodClosedMeanwhile:
                if attempt == _MAX_ATTEMPTS - 1:
                    raise
    except TableError as exc:
        return _finish(report, status=ReportStatus.FAILED, failure=exc.messages[0][:500])
    if report.status != ReportStatus.MATCHING or connection.vendor == "postgresql":
        return report  # on PostgreSQL the lines were matched before they were written
    from expenses.services.matching import report_match

    return report_match(report_id=report.pk, progress=progress)


def _check(report: ExpenseReport, progress: Progress | None) -> ExpenseReport:
    rules = LineRules(closed=closed_months(report.company_id), today=timezone.localdate())
    with report_rows(report) as rows, _LinesFile() as lines:
        total = rows.rows_estimate or _csv_rows(report)
        if progress is not None:
            progress(0, total)
        scan = _Scan(rows)
        for outcome in rows.outcomes(rules):
            scan.add(outcome, lines)
            if progress is not None and scan.rows_done % PROGRESS_EVERY == 0:
                progress(scan.rows_done, max(total, scan.rows_done))
        if not scan.line_count and not scan.error_count:
            raise TableError(
                _("The report has no claim lines: every row is blank or a total row."),
                code="no_rows",
            )
        result = scan.result(report)
        if scan.error_count:
            return _finish(
                report,
                status=ReportStatus.INVALID,
                result=result,
                error_count=scan.error_count,
                rows_done=scan.rows_done,
            )
        if connection.vendor == "postgresql":
            return _write_matched(report, lines, scan, result, progress)
        return _write(report, lines, scan, result)


def _csv_rows(report: ExpenseReport) -> int:
    """A CSV report's rows, counted from its line breaks (the header's taken off)."""
    count = 0
    with report.file.storage.open(str(report.file.name), "rb") as stored:
        while block := stored.read(1 << 20):
            count += block.count(b"\n")
    return max(count - 1, 1)


@functools.lru_cache(maxsize=1024)
def _month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


@functools.lru_cache(maxsize=1024)
def _day_texts(day: datetime.date) -> tuple[str, str]:
    """The day's month and the day, as COPY reads them (a report has few distinct days)."""
    return day.replace(day=1).isoformat(), day.isoformat()


class _Scan:
    """What the check learns of a report as it reads its rows."""

    def __init__(self, rows: ReportRows) -> None:
        self.rows = rows
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self.notes: list[dict[str, Any]] = []
        self.note_count = 0
        self.line_count = 0
        self.rows_done = 0
        self.total = ZERO
        self.months: set[datetime.date] = set()

    def add(self, outcome: Any, lines: _LinesFile) -> None:
        self.rows_done += 1
        if outcome.line is not None:
            self.line_count += 1
            self.total += outcome.line.amount
            self.months.add(_month_of(outcome.line.expense_date))
            if not self.error_count:
                lines.write(outcome.row, outcome.line)
            return
        if outcome.problems:
            self.error_count += len(outcome.problems)
            for problem in outcome.problems:
                if len(self.errors) >= MAX_STORED_ERRORS:
                    break
                self.errors.append(
                    {
                        "row": outcome.row,
                        "field": problem.field,
                        "column": self._column(problem.field),
                        "value": problem.value,
                        "reason": in_every_language(problem.reason),
                    }
                )
            return
        if outcome.note is not None:
            self.note_count += 1
            if len(self.notes) < MAX_STORED_NOTES:
                self.notes.append({"row": outcome.row, "message": in_every_language(outcome.note)})

    def _column(self, name: str) -> Any:
        if name in self.rows.columns and self.rows.columns[name] < len(self.rows.header):
            return self.rows.header[self.rows.columns[name]]
        return in_every_language(lambda: self.rows.label(name))

    def result(self, report: ExpenseReport) -> dict[str, Any]:
        notes = list(self.notes)
        unknown = self.rows.unknown
        if unknown:
            self.note_count += 1
            notes.insert(
                0,
                {
                    "row": self.rows.header_row,
                    "message": in_every_language(
                        lambda: (
                            _("Columns not used: %(columns)s.")
                            % {"columns": ", ".join(f"“{c}”" for c in unknown)}
                        )
                    ),
                },
            )
        return {
            "language": (report.result or {}).get("language") or translation.get_language(),
            "header": self.rows.header,
            "columns": self.rows.columns,
            "unknown_columns": unknown,
            "line_count": self.line_count,
            "total": str(self.total),
            "months": sorted(month.strftime("%Y-%m") for month in self.months),
            "notes": notes,
            "note_count": self.note_count,
            "errors": self.errors,
        }


# --- The lines, kept in a file between the check and the write -----------------------------------

_COPY_COLUMNS = (
    "public_id",
    "report_id",
    "company_id",
    "period_id",
    "row_number",
    *LINE_FIELDS,
    "state",
    "evidence",
    "matched_amount",
    "difference",
    "resolution",
    "resolution_note",
)
_COPY_BLOCK = 5000


class _LinesFile:
    """The checked lines in PostgreSQL COPY text (row, month, then the line's fields), in a
    temporary file: memory does not grow with the report."""

    def __enter__(self) -> _LinesFile:
        self.file: IO[str] = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def write(self, row: int, line: Any) -> None:
        # Cells are normalised (whitespace runs are one space), so only a backslash or a NUL
        # needs COPY's escaping: the whole record is checked once.
        month, day = _day_texts(line.expense_date)
        record = (
            f"{row}\t{month}\t{line.report_number}\t"
            f"{line.line_number}\t{line.employee_id}\t{line.employee_name}\t"
            f"{day}\t{line.amount}\t{line.merchant_name}\t"
            f"{line.merchant_reference}\t{line.card_serial}\t{line.card_last4}\t"
            f"{line.cost_center}\t{line.category}\t{line.fapiao_number}\t{line.description}\n"
        )
        if (
            "\\" in record
            or "\x00" in record
            or "\r" in record
            or record.count("\t") != 15
            or record.count("\n") != 1
        ):
            month = line.expense_date.replace(day=1).isoformat()
            fields = "\t".join(copy_text(getattr(line, name)) for name in LINE_FIELDS)
            record = f"{row}\t{month}\t{fields}\n"
        self.file.write(record)

    def raw(self) -> Iterator[str]:
        """The records as they are kept (row, month, the line's fields; COPY text)."""
        self.file.seek(0)
        yield from self.file

    def records(self) -> Any:
        self.file.seek(0)
        for record in self.file:
            row, month, rest = record.rstrip("\n").split("\t", 2)
            yield row, month, rest


def _open_periods(report: ExpenseReport, scan: _Scan) -> dict[datetime.date, int]:
    """The period of each month of the report's lines, made if new, locked (in primary-key
    order) and checked open; raises _PeriodClosedMeanwhile."""
    periods = {
        month: period_for(company=report.company, day=month) for month in sorted(scan.months)
    }
    current = list(
        ReconciliationPeriod.objects.select_for_update()
        .filter(pk__in=[period.pk for period in periods.values()])
        .order_by("pk")
    )
    if any(period.status == PeriodStatus.CLOSED for period in current):
        raise _PeriodClosedMeanwhile()
    return {month: period.pk for month, period in periods.items()}


def _write_matched(
    report: ExpenseReport,
    lines: _LinesFile,
    scan: _Scan,
    result: dict[str, Any],
    progress: Progress | None,
) -> ExpenseReport:
    """PostgreSQL: the lines matched before they are written, then written once with their
    answers (``report_match_new_lines``), all or nothing. The report shows MATCHING meanwhile;
    a run that dies before the write leaves it MATCHING with no lines, which the worker checks
    again (``expenses.tasks``)."""
    from expenses.services.matching import report_match_new_lines

    started = ExpenseReport.objects.filter(pk=report.pk, status__in=_WAITING).update(
        status=ReportStatus.MATCHING,
        rows_done=0,
        rows_total=scan.line_count,
        checked_at=timezone.now(),  # the check is over: the matching starts
    )
    if not started:
        return ExpenseReport.objects.get(pk=report.pk)

    def prepare(locked: ExpenseReport) -> dict[datetime.date, int] | None:
        if locked.status != ReportStatus.MATCHING:
            return None  # discarded meanwhile
        periods = _open_periods(report, scan)
        locked.result = _storable(result)
        locked.error_count = 0
        locked.failure = ""
        locked.rows_total = scan.line_count
        locked.save(update_fields=["result", "error_count", "failure", "rows_total"])
        return periods

    try:
        return report_match_new_lines(
            report=report,
            total=scan.line_count,
            records=lines.raw(),
            prepare=prepare,
            progress=progress,
        )
    except _PeriodClosedMeanwhile:
        ExpenseReport.objects.filter(pk=report.pk, status=ReportStatus.MATCHING).update(
            status=ReportStatus.CHECKING
        )
        raise


def _write(
    report: ExpenseReport, lines: _LinesFile, scan: _Scan, result: dict[str, Any]
) -> ExpenseReport:
    """All the lines in one transaction, or none: the report's row locked and re-checked, its
    periods made and locked (in primary-key order) and re-checked open."""
    with transaction.atomic():
        locked = ExpenseReport.objects.select_for_update().get(pk=report.pk)
        if locked.status not in _WAITING:
            return locked
        by_month = {
            month.isoformat(): period_id for month, period_id in _open_periods(report, scan).items()
        }
        prefix = f"\t{report.pk}\t{report.company_id}\t"
        tail = f"\t{LineState.PENDING.value}\t\t0\t0\t\t\n"
        with (
            connection.cursor() as cursor,
            CopyWriter(
                cursor, model=ExpenseLine, columns=_COPY_COLUMNS, build=_expense_line
            ) as copy,
        ):
            block: list[str] = []
            for row, month, rest in lines.records():
                block.append(f"{uuid.uuid4()}{prefix}{by_month[month]}\t{row}\t{rest}{tail}")
                if len(block) >= _COPY_BLOCK:
                    copy.write("".join(block))
                    block.clear()
            if block:
                copy.write("".join(block))
        locked.status = ReportStatus.MATCHING
        locked.result = _storable(result)
        locked.error_count = 0
        locked.failure = ""
        locked.rows_total = scan.line_count
        locked.rows_done = 0
        locked.checked_at = timezone.now()
        locked.save(
            update_fields=[
                "status",
                "result",
                "error_count",
                "failure",
                "rows_total",
                "rows_done",
                "checked_at",
            ]
        )
    return locked


def _expense_line(values: dict[str, str]) -> ExpenseLine:
    """A line from its COPY text, for ``bulk_create`` on SQLite."""
    fields: dict[str, Any] = {name: copy_unescape(values[name]) for name in LINE_FIELDS}
    fields["expense_date"] = datetime.date.fromisoformat(fields["expense_date"])
    fields["amount"] = Decimal(fields["amount"])
    return ExpenseLine(
        public_id=uuid.UUID(values["public_id"]),
        report_id=int(values["report_id"]),
        company_id=int(values["company_id"]),
        period_id=int(values["period_id"]),
        row_number=int(values["row_number"]),
        **fields,
    )


# --- Finishing ------------------------------------------------------------------------------------


def _storable(value: Any) -> Any:
    """``value`` without NUL characters, which PostgreSQL's JSON cannot hold (a cell may have
    one)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _finish(
    report: ExpenseReport,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error_count: int = 0,
    failure: str = "",
    rows_done: int | None = None,
) -> ExpenseReport:
    with transaction.atomic():
        locked = ExpenseReport.objects.select_for_update().get(pk=report.pk)
        if locked.status not in _WAITING:
            return locked  # discarded (or checked by another run) meanwhile
        locked.status = status
        locked.failure = failure.replace("\x00", "")
        locked.error_count = error_count
        locked.result = (
            _storable(result) if result else {"language": (locked.result or {}).get("language", "")}
        )
        locked.checked_at = timezone.now()
        if rows_done is not None:
            locked.rows_done = rows_done
            locked.rows_total = rows_done
        locked.save()
    return locked


def expense_report_fail(*, report_id: int, reason: str) -> None:
    """Mark a report whose check or matching broke down (the worker's last resort): FAILED with
    a reason the buyer can read, unless it has finished meanwhile. Lines already written stay
    (not matched); discarding the report removes them."""
    with transaction.atomic():
        locked = ExpenseReport.objects.select_for_update().filter(pk=report_id).first()
        if locked is None or locked.finished:
            return
        locked.status = ReportStatus.FAILED
        locked.failure = reason[:500]
        locked.save(update_fields=["status", "failure"])


_PROGRESS_FIELDS = ("status", "rows_done", "rows_total", "error_count", "failure")


def expense_report_progress(report: ExpenseReport, *, fresh: bool = True) -> dict[str, Any]:
    """Where the report is (checking, then matching), for the page that polls it and the API.
    ``fresh``: read from the database first (into ``report``)."""
    if fresh:
        row = ExpenseReport.objects.filter(pk=report.pk).values(*_PROGRESS_FIELDS).get()
        if row["status"] != report.status or not report.result:
            report.refresh_from_db()
        else:
            for name, value in row.items():
                setattr(report, name, value)
    status = report.status
    finished = report.finished
    total = report.rows_total
    done = min(report.rows_done, total) if total else report.rows_done
    percent = 100 if finished else (min(99, done * 100 // total) if total else 0)
    return {
        "status": status,
        "status_label": str(ReportStatus(status).label),
        "stage": {
            ReportStatus.RECEIVED: "checking",
            ReportStatus.CHECKING: "checking",
            ReportStatus.MATCHING: "matching",
        }.get(ReportStatus(status), ""),
        "rows_done": done,
        "rows_total": total,
        "percent": percent,
        "finished": finished,
        "error_count": report.error_count,
        "failure": report.failure,
    }
