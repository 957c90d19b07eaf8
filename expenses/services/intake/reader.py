"""Reading a stored expense report, a file (CSV or XLSX, through ``portal.tabular`` like order
files) or the JSON lines the API received, row by row through ``LineRules``: each row's
outcome, with its problems by column, or the note of a row skipped."""

from __future__ import annotations

import datetime
import json
import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from expenses.models import ExpenseReport, PeriodStatus, ReconciliationPeriod
from portal.tabular import Table, TableError, match_headers, read_table

from .base import EXPENSE_COLUMNS, REQUIRED_COLUMNS
from .rows import CheckedLine, LineRules, Problem, summary_word


@dataclass
class RowOutcome:
    row: int
    cells: list[str]  # as in the file (a JSON line: its values in the columns' order)
    line: CheckedLine | None
    problems: list[Problem]
    # A row skipped (blank, or a total row): why, in the active language.
    note: Callable[[], str] | None = None


@dataclass
class ReportRows:
    """A stored report opened for reading: its header (as written; the field names for JSON
    lines), where each field is, and its rows."""

    header: list[str]
    header_row: int
    columns: dict[str, int]
    unknown: list[str]
    rows: Iterator[tuple[int, list[str]]]
    # The rows the report says it has, when it says (XLSX, JSON); None for CSV.
    rows_estimate: int | None = None
    _labels: dict[str, str] = field(default_factory=dict)

    def label(self, name: str) -> str:
        """A field's column as the report names it (its header cell); for a column the report
        does not have, the field's name in the active language."""
        index = self.columns.get(name)
        if index is not None and index < len(self.header):
            return self.header[index]
        return column_name(name)

    def outcomes(self, rules: LineRules) -> Iterator[RowOutcome]:
        """Every row checked; the same (report number, line number) twice is a problem of the
        second row."""
        seen: dict[tuple[str, str], int] = {}
        columns = list(self.columns.items())
        names = [name for name, _index in columns]
        widest = max((index for _name, index in columns), default=-1)
        pick = _picker([index for _name, index in columns])
        for number, cells in self.rows:
            if not cells:

                def blank(row: int = number) -> str:
                    return _("Row %(row)s is blank; skipped.") % {"row": row}

                yield RowOutcome(number, cells, None, [], blank)
                continue
            if len(cells) > widest:
                raw = dict(zip(names, pick(cells), strict=True))
            else:
                raw = {name: cells[index] if index < len(cells) else "" for name, index in columns}
            line, problems = rules.check(raw)
            if problems:
                summary = summary_word(cells)
                if summary:

                    def total_row(row: int = number, text: str = summary) -> str:
                        return _("Row %(row)s is a total row (“%(text)s”); skipped.") % {
                            "row": row,
                            "text": text,
                        }

                    yield RowOutcome(number, cells, None, [], total_row)
                    continue
                yield RowOutcome(number, cells, None, problems)
                continue
            assert line is not None
            key = (line.report_number, line.line_number)
            first = seen.setdefault(key, number)
            if first != number:
                yield RowOutcome(number, cells, None, [_duplicate(line.line_number, key[0], first)])
                continue
            yield RowOutcome(number, cells, line, [])


def _picker(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """``cells -> the cells at indexes``, as a tuple whatever their number."""
    if not indexes:
        return lambda cells: ()
    if len(indexes) == 1:
        index = indexes[0]
        return lambda cells: (cells[index],)
    getter = operator.itemgetter(*indexes)
    return lambda cells: getter(cells)


def _duplicate(value: str, report_number: str, first: int) -> Problem:
    return Problem(
        "line_number",
        value,
        lambda: (
            _("report %(report)s has line %(line)s twice: row %(first)s has it too.")
            % {"report": report_number, "line": value, "first": first}
        ),
    )


def column_name(name: str) -> str:
    """A field's column in the active language (the template's header)."""
    aliases = EXPENSE_COLUMNS[name]
    return aliases[0] if (translation.get_language() or "").startswith("zh") else aliases[1]


def closed_months(company_id: int) -> dict[datetime.date, str]:
    """The company's closed periods: their month's first day -> "2026-10"."""
    return {
        month: month.strftime("%Y-%m")
        for month in ReconciliationPeriod.objects.filter(
            company_id=company_id, status=PeriodStatus.CLOSED
        ).values_list("month", flat=True)
    }


def table_rows(table: Table) -> ReportRows:
    match = match_headers(table.header, EXPENSE_COLUMNS, REQUIRED_COLUMNS)
    return ReportRows(
        header=table.header,
        header_row=table.header_row,
        columns=match.columns,
        unknown=match.unknown,
        rows=table.rows(),
        rows_estimate=table.rows_estimate,
    )


def json_rows(lines: list[dict[str, Any]]) -> ReportRows:
    """JSON lines (objects, as the receive checked) as rows: the header is the field names,
    line ``n`` (from 1) is row ``n``."""
    names = list(EXPENSE_COLUMNS)
    unknown: list[str] = []
    for item in lines:
        unknown.extend(key for key in item if key not in EXPENSE_COLUMNS and key not in unknown)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, item in enumerate(lines, start=1):
            yield number, [_json_text(item.get(name)) for name in names]

    return ReportRows(
        header=names,
        header_row=0,
        columns={name: index for index, name in enumerate(names)},
        unknown=unknown,
        rows=rows(),
        rows_estimate=len(lines),
    )


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False).strip('"')


def _open_file(report: ExpenseReport) -> IO[bytes]:
    stored = report.file.storage.open(str(report.file.name), "rb")
    raw: IO[bytes] = getattr(stored, "file", stored)
    return raw


@contextmanager
def report_rows(report: ExpenseReport) -> Iterator[ReportRows]:
    """The stored report's rows. Raises TableError for a file that cannot be read (or whose
    header lacks a column)."""
    with _open_file(report) as binary:
        if report.file_format == "json":
            try:
                lines = json.load(binary)
            except ValueError as exc:  # pragma: no cover - stored by the receive, as JSON
                raise TableError(_("The stored lines cannot be read."), code="not_json") from exc
            yield json_rows(lines)
            return
        table = read_table(
            binary,
            file_name=report.file_name,
            max_bytes=settings.UPLOAD_MAX_BYTES,
            max_rows=settings.UPLOAD_MAX_ROWS,
        )
        yield table_rows(table)
