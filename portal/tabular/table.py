"""A table being read, the error every reader raises, and the row limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from portal.errors import DomainError


class TableError(DomainError):
    """A file that cannot be read as a table, with a message saying what is wrong (translated,
    naming the row where there is one). ``row`` is the spreadsheet row, when known."""

    def __init__(self, message: str, *, code: str = "invalid", row: int | None = None) -> None:
        super().__init__(message, code=code)
        self.row = row


@dataclass
class Table:
    """A table being read. ``rows()`` can be iterated once."""

    format: str  # "csv" or "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "gb18030"; "" for xlsx
    delimiter: str  # "" for xlsx
    header: list[str]
    header_row: int
    _rows: Iterator[tuple[int, list[str]]]
    # XLSX files state their size (rows), CSV files do not: None.
    rows_estimate: int | None = None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        return self._rows


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.1f}".removesuffix(".0")


def _too_many_rows(max_rows: int, row: int) -> TableError:
    return TableError(
        _(
            "The file has more than %(max)s rows (row %(row)s is over the limit); split it into "
            "files of at most %(max)s rows."
        )
        % {"max": f"{max_rows:,}", "row": f"{row:,}"},
        code="too_many_rows",
        row=row,
    )


def _only_header() -> TableError:
    return TableError(
        _("The file has a header but no rows; add one row per card line under the header."),
        code="no_rows",
    )


def _trim(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _blank(cells: list[str]) -> bool:
    """A row with nothing but whitespace (any Unicode whitespace: spaces, tabs, the ideographic
    space U+3000, no-break spaces) in its cells."""
    return all(not cell or cell.isspace() for cell in cells)


# Blank rows a file may hold beyond the row limit (spacing, trailing empty lines).
BLANK_ROWS_ALLOWED = 10_000


def _with_limits(
    records: Iterator[tuple[int, list[str]]], max_rows: int
) -> tuple[tuple[int, list[str]], Iterator[tuple[int, list[str]]]]:
    """The header record, and the data records: blank rows (whitespace only) kept (as []) only
    when a non-blank
    row follows; a TableError at the first data row over the limit. Raises TableError if the
    file has no header or no data row."""
    header: tuple[int, list[str]] | None = None
    for number, cells in records:
        if not _blank(cells):
            header = (number, cells)
            break
    if header is None:
        raise TableError(_("The file is empty."), code="empty")
    first: tuple[int, list[str]] | None = None
    pending: list[int] = []
    # Blank rows count too (beyond an allowance), or a file of empty lines, or a workbook with
    # one cell in its last row, would be read for minutes and held in memory row by row.
    physical_limit = max_rows + BLANK_ROWS_ALLOWED
    for number, cells in records:
        if not _blank(cells):
            first = (number, cells)
            break
        pending.append(number)
        if len(pending) > physical_limit:
            raise _too_many_rows(max_rows, number)
    if first is None:
        raise _only_header()

    def data() -> Iterator[tuple[int, list[str]]]:
        for number in pending:
            yield number, []
        yield first
        counted = 1
        physical = len(pending) + 1
        blank: list[int] = []
        for number, cells in records:
            physical += 1
            if physical > physical_limit:
                raise _too_many_rows(max_rows, number)
            if _blank(cells):
                blank.append(number)
                continue
            counted += 1
            if counted > max_rows:
                raise _too_many_rows(max_rows, number)
            for skipped in blank:
                yield skipped, []
            blank.clear()
            yield number, cells

    if max_rows < 1:
        raise _too_many_rows(max_rows, first[0])
    return header, data()
