"""Reading the tables people upload: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK; comma, semicolon
or tab) and XLSX, row by row, with limits checked before the work they protect.

What a user gets is what Excel shows: ``rows()`` yields ``(row_number, cells)`` with the row
number of the spreadsheet (the header is row 1), every cell as text (``100.0`` read from XLSX is
"100", a date is "2026-01-31"), trailing empty cells dropped. Blank rows are yielded too (as an
empty list) so that a caller can say which rows it skipped, except blank rows at the end of the
file, which are dropped.

Limits: the size is checked from the file's size before a byte is read; the row limit stops the
reading as soon as the first row over it is seen; an XLSX file's zip members are checked (total
uncompressed size and compression ratio) before openpyxl opens it. A CSV file is decoded line by
line as it is read, so memory does not grow with the file.

Encodings: a byte order mark means UTF-8; otherwise the text is UTF-8 when it decodes as UTF-8,
and GB18030 (of which GBK and GB2312 are subsets) when it does not. A file that mixes both
(a UTF-8 file with a row pasted from a GBK one) is refused naming the first row that differs.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from portal.errors import DomainError

# Where the encoding and the delimiter are guessed from.
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t")
# Zip bombs: an XLSX sheet's XML compresses about 10-20 times; far beyond that is a trap.
_RATIO_CHECK_MIN_BYTES = 1024 * 1024
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"%PDF", "PDF"),
    (b"\xd0\xcf\x11\xe0", "XLS"),
    (b"BM", "BMP"),
    (b"Rar!", "RAR"),
    (b"\x1f\x8b", "GZIP"),
    (b"7z\xbc\xaf", "7Z"),
)
_WHITESPACE_RUN = re.compile(r"\s+")
# Whitespace that is not one plain space between words.
_ODD_SPACE = re.compile(r"\s\s|[^\S ]")
# After NFKC, full-width punctuation is ASCII, so a unit in brackets is "(元)".
_HEADER_NOISE = re.compile(r"[\s_\-.:*]+|\((?:元|cny|rmb|¥)\)", re.IGNORECASE)


class TableError(DomainError):
    """A file that cannot be read as a table, with a message saying what is wrong (translated,
    naming the row where there is one). ``row`` is the spreadsheet row, when known."""

    def __init__(self, message: str, *, code: str = "invalid", row: int | None = None) -> None:
        super().__init__(message, code=code)
        self.row = row


@dataclass
class HeaderMatch:
    """Which column holds each field (by index into the header), and the header cells that
    matched no field (as written in the file)."""

    columns: dict[str, int]
    unknown: list[str] = field(default_factory=list)

    def get(self, cells: list[str], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index]


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


def normalise_cell(text: str) -> str:
    """Text as a person meant it: NFKC (full-width digits, letters and punctuation to
    half-width, the ideographic space to a space), trimmed, inner whitespace as one space."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if text and (text[0].isspace() or text[-1].isspace() or _ODD_SPACE.search(text)):
        return _WHITESPACE_RUN.sub(" ", text).strip()
    return text


def header_key(text: str) -> str:
    """A header cell compared without case, spaces, underscores, punctuation around it or
    width: "Face Value", "face_value", a unit such as "(元)" and full-width letters match."""
    return _HEADER_NOISE.sub("", normalise_cell(text)).casefold()


def match_headers(
    header: list[str], columns: dict[str, tuple[str, ...]], required: set[str]
) -> HeaderMatch:
    """Map the file's header to fields. ``columns`` gives each field's aliases (in any language);
    a header cell matching no alias is listed in ``unknown``; a field in ``required`` that no
    cell matches raises TableError naming it (by its first alias in the user's language, which
    is the caller's to order)."""
    lookup: dict[str, str] = {}
    for name, aliases in columns.items():
        for alias in (name, *aliases):
            lookup.setdefault(header_key(alias), name)
    found: dict[str, int] = {}
    unknown: list[str] = []
    duplicated: list[str] = []
    for index, cell in enumerate(header):
        key = header_key(cell)
        if not key:
            continue
        field_name = lookup.get(key)
        if field_name is None:
            unknown.append(cell)
        elif field_name in found:
            duplicated.append(cell)
        else:
            found[field_name] = index
    if duplicated:
        raise TableError(
            _("The header names a column twice: %(columns)s. Keep one of each.")
            % {"columns": ", ".join(f"“{c}”" for c in duplicated)},
            code="duplicate_column",
            row=1,
        )
    missing = [name for name in columns if name in required and name not in found]
    if missing:
        labels = [" / ".join(columns[name][:2]) or name for name in missing]
        raise TableError(
            _("The header has no column for %(columns)s; add it (the template has every column).")
            % {"columns": ", ".join(f"“{label}”" for label in labels)},
            code="missing_column",
            row=1,
        )
    return HeaderMatch(columns=found, unknown=unknown)


# --- Reading ----------------------------------------------------------------------------------


def read_table(data: bytes | IO[bytes], *, file_name: str, max_bytes: int, max_rows: int) -> Table:
    """Open a CSV or XLSX file (told apart by content, not by name) and read its header.

    Raises TableError for an empty file, a file of only a header, a file that is neither CSV nor
    XLSX, one over ``max_bytes`` (from its size, before reading), an XLSX zip bomb, or text in no
    accepted encoding. The data rows are read lazily by ``Table.rows()``, which raises TableError
    when it meets row ``max_rows + 1`` (data rows, not counting blank ones) or a row in another
    encoding.
    """
    binary: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    size = _size_of(binary)
    if size > max_bytes:
        raise TableError(
            _("The file is %(size)s MB; files of at most %(max)s MB are accepted.")
            % {"size": _megabytes(size), "max": _megabytes(max_bytes)},
            code="too_large",
        )
    if size == 0:
        raise TableError(_("The file is empty."), code="empty")
    head = binary.read(_SNIFF_BYTES)
    binary.seek(0)
    if head.startswith(b"PK\x03\x04"):
        return _read_xlsx(binary, max_rows=max_rows)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TableError(
            _(
                "The file is saved as “Unicode text” (UTF-16); save it as “CSV UTF-8” or as an "
                "Excel workbook (.xlsx)."
            ),
            code="not_a_table",
        )
    for signature, kind in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise TableError(_not_a_table_message(file_name, kind), code="not_a_table")
    if b"\x00" in head:
        raise TableError(_not_a_table_message(file_name, ""), code="not_a_table")
    return _read_csv(binary, head, max_rows=max_rows)


def _not_a_table_message(file_name: str, kind: str) -> str:
    if kind == "XLS":
        return _(
            "“%(name)s” is an old Excel file (.xls); save it as an Excel workbook (.xlsx) or CSV."
        ) % {"name": file_name}
    if kind:
        return _(
            "“%(name)s” is not a CSV or XLSX file (its content is %(kind)s); upload the order "
            "file as CSV or Excel (.xlsx)."
        ) % {"name": file_name, "kind": kind}
    return _(
        "“%(name)s” is not a CSV or XLSX file (it holds binary data); upload the order file as "
        "CSV or Excel (.xlsx)."
    ) % {"name": file_name}


def _size_of(binary: IO[bytes]) -> int:
    size = getattr(binary, "size", None)
    if isinstance(size, int):
        return size
    position = binary.tell()
    end = binary.seek(0, io.SEEK_END)
    binary.seek(position)
    return end - position


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


# Blank rows a file may hold beyond the row limit (spacing, trailing empty lines).
BLANK_ROWS_ALLOWED = 10_000
# Columns read from a worksheet: an order or bank file has a dozen; a sheet whose declared
# dimension is A1:XFD1048576 must not be read 16,384 cells a row.
XLSX_MAX_COLUMNS = 100


def _with_limits(
    records: Iterator[tuple[int, list[str]]], max_rows: int
) -> tuple[tuple[int, list[str]], Iterator[tuple[int, list[str]]]]:
    """The header record, and the data records: blank rows kept (as []) only when a non-blank
    row follows; a TableError at the first data row over the limit. Raises TableError if the
    file has no header or no data row."""
    header: tuple[int, list[str]] | None = None
    for number, cells in records:
        if any(cells):
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
        if any(cells):
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
            if not any(cells):
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


# --- CSV ------------------------------------------------------------------------------------------


def _plausible_gb(text: str) -> bool:
    """Decoded GB18030 that reads as Chinese: every non-ASCII character a CJK ideograph or CJK
    punctuation / full-width form."""
    return all(
        ch.isascii() or "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or ch >= "\uff00"
        for ch in text
    )


def _guess_encoding(head: bytes, complete: bool) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if not complete:
        # Do not judge on a character cut at the end of the sample.
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    if text.isascii():
        return "utf-8"
    # Short GBK text can happen to be valid UTF-8 (then it decodes to Latin, Greek or Cyrillic
    # letters, never to CJK): prefer the reading that gives Chinese.
    if all(ch.isascii() or ch < "\u0800" for ch in text):
        try:
            gb_text = head.decode("gb18030")
        except UnicodeDecodeError:
            return "utf-8"
        if _plausible_gb(gb_text):
            return "gb18030"
    return "utf-8"


def _mixed_encoding(row: int, file_encoding: str) -> TableError:
    return TableError(
        _(
            "Row %(row)s is in another text encoding than the rows before it (the file is "
            "%(encoding)s); save the whole file once as “CSV UTF-8” and upload it again."
        )
        % {"row": row, "encoding": file_encoding.upper().replace("-SIG", "")},
        code="mixed_encoding",
        row=row,
    )


class _Lines:
    """Decoded lines of a binary file, for csv.reader, checking that every line is in the
    file's encoding. ``record`` is set by the reader's loop to the row being read, so that an
    encoding error names the row a user sees."""

    def __init__(self, binary: IO[bytes], encoding: str) -> None:
        self._binary = binary
        self.encoding = encoding
        self.record = 1
        self._seen_utf8_text = False
        self._seen_gb_text = False

    def __iter__(self) -> Iterator[str]:
        encoding = self.encoding
        first = True
        for raw in self._binary:
            if first and encoding == "utf-8-sig":
                raw = raw.removeprefix(codecs.BOM_UTF8)
            first = False
            if raw.isascii():
                yield raw.decode("ascii")
                continue
            yield self._decode(raw)

    def _decode(self, raw: bytes) -> str:
        if self.encoding == "gb18030":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = ""
            if text and not all(ch.isascii() or ch < "\u0800" for ch in text):
                # Valid UTF-8 with CJK in a GB18030 file: a line pasted from another file.
                if self._seen_gb_text:
                    raise _mixed_encoding(self.record, "gb18030")
                # Nothing non-ASCII before it: the guess was wrong, the file is UTF-8.
                self.encoding = "utf-8"
                self._seen_utf8_text = True
                return text
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise _undecodable(self.record) from exc
            self._seen_gb_text = True
            return text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self._seen_utf8_text:
                raise _mixed_encoding(self.record, self.encoding) from exc
            if self.encoding == "utf-8-sig":
                raise _undecodable(self.record) from exc
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise _undecodable(self.record) from exc
            self.encoding = "gb18030"
            self._seen_gb_text = True
            return text
        self._seen_utf8_text = True
        return text


def _undecodable(row: int) -> TableError:
    return TableError(
        _(
            "Row %(row)s is not text in UTF-8 or GB18030 (GBK); save the file as “CSV UTF-8” "
            "and upload it again."
        )
        % {"row": row},
        code="encoding",
        row=row,
    )


def _pick_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(binary: IO[bytes], head: bytes, *, max_rows: int) -> Table:
    complete = len(head) < _SNIFF_BYTES
    encoding = _guess_encoding(head, complete)
    sample = head.removeprefix(codecs.BOM_UTF8) if encoding == "utf-8-sig" else head
    first_line = sample.split(b"\n", 1)[0].decode(
        "utf-8" if encoding != "gb18030" else "gb18030", "replace"
    )
    delimiter = _pick_delimiter(first_line)
    lines = _Lines(binary, encoding)
    reader = csv.reader(iter(lines), delimiter=delimiter, quotechar='"', strict=False)

    def records() -> Iterator[tuple[int, list[str]]]:
        number = 0
        while True:
            number += 1
            lines.record = number
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TableError(
                    _("Row %(row)s cannot be read as CSV: %(reason)s.")
                    % {"row": number, "reason": str(exc)},
                    code="csv",
                    row=number,
                ) from exc
            yield number, _trim(cells)

    iterator = records()
    (header_row, header), data = _with_limits(iterator, max_rows)
    return Table(
        format="csv",
        encoding=lines.encoding,
        delimiter=delimiter,
        header=[normalise_cell(c) for c in header],
        header_row=header_row,
        _rows=data,
    )


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


def _read_xlsx(binary: IO[bytes], *, max_rows: int) -> Table:
    import openpyxl

    _check_zip(binary)
    try:
        workbook = openpyxl.load_workbook(binary, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken package
        raise TableError(
            _("The file looks like an Excel workbook but is damaged; save it again and upload it."),
            code="not_a_table",
        ) from exc
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        raise TableError(_("The file is empty."), code="empty")
    estimate = getattr(sheet, "max_row", None)
    # The sheet's declared dimension is the file's claim, not its content: reading by it pads
    # every row to the declared width. Read the rows the sheet really has.
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()

    def records() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, values in enumerate(
                sheet.iter_rows(values_only=True, max_col=XLSX_MAX_COLUMNS), start=1
            ):
                yield number, _trim([cell_text(v) for v in values])
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
        rows_estimate=estimate if isinstance(estimate, int) else None,
    )


def iter_cells(rows: Iterable[tuple[int, list[str]]]) -> Iterator[list[str]]:
    """Just the cells of ``rows``."""
    for _number, cells in rows:
        yield cells
