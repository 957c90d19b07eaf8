"""XLSX files: the zip checked for bombs and the sheet's XML for the row and column limits before
python-calamine loads the sheet; cells as the text Excel shows."""

from __future__ import annotations

import datetime
import re
import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from .headers import normalise_cell
from .table import (
    BLANK_ROWS_ALLOWED,
    Table,
    TableError,
    _megabytes,
    _too_many_rows,
    _trim,
    _with_limits,
)

# Zip bombs: an XLSX sheet's XML compresses about 10-20 times; far beyond that is a trap.
_RATIO_CHECK_MIN_BYTES = 1024 * 1024


# Columns read from a worksheet: an order or bank file has a dozen; a sheet whose declared
# dimension is A1:XFD1048576 must not be read 16,384 cells a row.
XLSX_MAX_COLUMNS = 100


# --- XLSX -----------------------------------------------------------------------------------------


def _check_zip(binary: IO[bytes]) -> None:
    try:
        archive = zipfile.ZipFile(binary)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise TableError(
            _("The file looks like an Excel workbook but is damaged; save it again and upload it."),
            code="not_a_table",
        ) from exc
    with archive:
        members = archive.infolist()
        names = {m.filename for m in members}
        if "xl/workbook.xml" not in names:
            raise TableError(
                _(
                    "The file is a zip archive but not an Excel workbook; upload the order file "
                    "as CSV or Excel (.xlsx)."
                ),
                code="not_a_table",
            )
        limit = settings.UPLOAD_XLSX_MAX_UNCOMPRESSED
        ratio = settings.UPLOAD_XLSX_MAX_RATIO
        total = sum(m.file_size for m in members)
        bomb = total > limit or any(
            m.file_size > _RATIO_CHECK_MIN_BYTES and m.file_size > ratio * max(m.compress_size, 1)
            for m in members
        )
        if bomb:
            raise TableError(
                _(
                    "The workbook unpacks to %(size)s MB, far more than its data can need (a "
                    "“zip bomb”); it was not opened. Save the sheet as CSV and upload that."
                )
                % {"size": _megabytes(total)},
                code="zip_bomb",
            )
    binary.seek(0)


def cell_text(value: Any) -> str:
    """An XLSX cell as the text a person sees: 100.0 -> "100", 1000.5 -> "1000.5", dates in
    ISO form, booleans as TRUE/FALSE."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = f"{value:.15g}"
        return format(Decimal(text), "f") if "e" in text else text
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# --- The sheet's XML, read without a workbook library -----------------------------------------

# A worksheet row's start tag, with its namespace prefix if the file uses one ("x:"), and its
# number.
_ROW_START = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)row[\s>/]")
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
# A cell reference beyond column CV (the 100th): CW..CZ, DA..ZZ, AAA...
_WIDE_REF = re.compile(rb'r="((?:[A-Z]{3,}|[D-Z][A-Z]|C[W-Z])\d+)"')
_SHEET_REL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheet\s[^>]*?\b[\w.-]+:id=\"([^\"]+)\"")
_RELATIONSHIP = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Relationship\s[^>]*>")
_ATTRIBUTE = re.compile(rb'\s(Id|Target)="([^"]*)"')
_SCAN_BLOCK = 1 << 20
# A row element longer than this is summed up (its number and whether it holds a value) rather
# than kept whole until its end tag.
_ROW_KEEP = 1 << 20
assert XLSX_MAX_COLUMNS == 100  # _WIDE_CELL spells out column 101


def _first_sheet(archive: zipfile.ZipFile) -> str:
    """The member holding the workbook's first sheet (the one read), from workbook.xml and its
    relationships; the usual name when they do not say."""
    names = set(archive.namelist())
    try:
        with archive.open("xl/workbook.xml") as member:
            found = _SHEET_REL.search(member.read(_SCAN_BLOCK))
        if found and "xl/_rels/workbook.xml.rels" in names:
            with archive.open("xl/_rels/workbook.xml.rels") as member:
                rels = member.read(_SCAN_BLOCK)
            for tag in _RELATIONSHIP.findall(rels):
                attributes = dict(_ATTRIBUTE.findall(tag))
                if attributes.get(b"Id") == found.group(1) and b"Target" in attributes:
                    target = attributes[b"Target"].decode("utf-8", "replace")
                    path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                    if path in names:
                        return path
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        pass
    if "xl/worksheets/sheet1.xml" in names:
        return "xl/worksheets/sheet1.xml"
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    return sheets[0] if sheets else ""


def _scan_rows(member: IO[bytes], *, max_rows: int) -> int:
    """Read a sheet's XML once, cheaply (no cell is parsed: byte searches), and apply the limits
    that must hold before a workbook library loads the sheet: the rows (a row holding any value
    counts, the header too; a gap in the row numbers counts as blank rows) and the columns (a
    cell holding something beyond column 100). Returns the number of the last row holding a
    value (0: none). Raises TableError at the first row over a limit."""
    physical_limit = max_rows + BLANK_ROWS_ALLOWED
    header_row = 0
    data_rows = 0
    number = 0
    last = 0
    carry = b""
    row_tag = value_tag = inline_tag = b""

    def rows(pieces: list[bytes]) -> None:
        nonlocal header_row, data_rows, number, last
        for piece in pieces:
            if piece[:1] not in (b" ", b">", b"/", b"\t", b"\r", b"\n"):
                continue  # not a row (<rowBreaks> after the data)
            tag_end = piece.find(b">")
            found = _ROW_NUMBER.search(piece, 0, tag_end if tag_end >= 0 else len(piece))
            number = int(found.group(1)) if found else number + 1
            if tag_end < 1 or piece[tag_end - 1] == 47:  # "/": an empty row
                continue
            if value_tag not in piece and inline_tag not in piece:
                continue
            last = number
            if not header_row:
                header_row = number
                continue
            if number - header_row > physical_limit:
                raise _too_many_rows(max_rows, header_row + physical_limit + 1)
            data_rows += 1
            if data_rows > max_rows:
                raise _too_many_rows(max_rows, number)

    def columns(text: bytes) -> None:
        position = 0
        while wide := _WIDE_REF.search(text, position):
            position = wide.end()
            if text[wide.start() - 1 : wide.start()].isspace():
                close = text.find(b">", position)
                if close < 0 or text[close - 1] != 47:  # not self-closing: it holds something
                    raise _too_wide(wide.group(1).decode("ascii"))

    while True:
        block = member.read(_SCAN_BLOCK)
        buffer = carry + block
        if not row_tag:
            first = _ROW_START.search(buffer)
            if first is None:
                if not block:
                    return last
                carry = buffer[-256:]  # before the first row: keep what may be a cut start tag
                continue
            prefix = first.group(1)
            row_tag, value_tag, inline_tag = (
                b"<" + prefix + name for name in (b"row", b"v>", b"is>")
            )
            buffer = buffer[first.start() :]
        pieces = buffer.split(row_tag)
        if not block:
            rows(pieces[1:])
            columns(buffer)
            return last
        tail = pieces.pop()
        rows(pieces[1:])
        columns(buffer[: len(buffer) - len(tail)])
        if len(tail) > _ROW_KEEP:
            # A very long row: keep its start tag, whether it holds a value, and its end.
            columns(tail[:-64])
            head_end = tail.find(b">") + 1 or 256
            value = value_tag if value_tag in tail or inline_tag in tail else b""
            tail = tail[:head_end] + value + tail[-64:]
        carry = row_tag + tail


def _too_wide(cell: str) -> TableError:
    return TableError(
        _(
            "The sheet has a value in cell %(cell)s, beyond the %(max)s columns a file may have; "
            "delete the columns to the right of the data and upload it again."
        )
        % {"cell": cell, "max": XLSX_MAX_COLUMNS},
        code="too_many_columns",
    )


def screen_xlsx(binary: IO[bytes], *, max_rows: int) -> int:
    """The checks of an XLSX file that need no workbook library (what the web process may do
    with a large file): the zip (a damaged archive, a zip bomb), then the first sheet's rows and
    columns against the limits, from its XML. Returns the number of the sheet's last row holding
    a value."""
    _check_zip(binary)
    try:
        with zipfile.ZipFile(binary) as archive:
            name = _first_sheet(archive)
            if not name:
                raise TableError(_("The file is empty."), code="empty")
            with archive.open(name) as member:
                last = _scan_rows(member, max_rows=max_rows)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise _damaged() from exc
    binary.seek(0)
    return last


def _damaged() -> TableError:
    return TableError(
        _("The file looks like an Excel workbook but is damaged; save it again and upload it."),
        code="not_a_table",
    )


def _read_xlsx(binary: IO[bytes], *, max_rows: int) -> Table:
    """The first sheet's rows, read with python-calamine (Rust; about 15 times faster than
    openpyxl here) once ``screen_xlsx`` has bounded what it will load: the rows (the limits)
    and the columns. Cell values, never formulas (a formula's cached value)."""
    from python_calamine import CalamineError, CalamineWorkbook

    estimate = screen_xlsx(binary, max_rows=max_rows)
    try:
        workbook = CalamineWorkbook.from_filelike(binary)
        sheet = workbook.get_sheet_by_index(0) if workbook.sheet_names else None
    except (CalamineError, ValueError, OSError) as exc:
        raise _damaged() from exc
    if sheet is None or sheet.start is None:
        raise TableError(_("The file is empty."), code="empty")
    # Rows come from row 1; columns from the first one holding a value.
    pad = [""] * sheet.start[1]

    def records() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, values in enumerate(sheet.iter_rows(), start=1):
                cells = (
                    [*pad, *[cell_text(v) for v in values]]
                    if pad
                    else [cell_text(v) for v in values]
                )
                yield number, _trim(cells[:XLSX_MAX_COLUMNS])
        finally:
            workbook.close()

    (header_row, header), data = _with_limits(records(), max_rows)
    return Table(
        format="xlsx",
        encoding="",
        delimiter="",
        header=[normalise_cell(c) for c in header],
        header_row=header_row,
        _rows=data,
        rows_estimate=estimate or None,
    )
