"""CSV files: the encoding (UTF-8, UTF-8 with BOM, GB18030/GBK) and the delimiter guessed,
every line checked to be in the file's encoding as it is read."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO, Any

from django.utils.translation import gettext as _

from .headers import normalise_cell
from .table import Table, TableError, _trim, _with_limits

# Where the encoding and the delimiter are guessed from.
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t")


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


def decode_csv(data: bytes | str) -> str:
    """A whole (small) CSV file's text, decoded the way ``read_table`` reads it: a byte order
    mark means UTF-8, else UTF-8 when it decodes as such, else GB18030 (GBK); a file mixing
    both is refused (TableError) naming the row."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    encoding = _guess_encoding(data[:_SNIFF_BYTES], len(data) <= _SNIFF_BYTES)
    return "".join(_Lines(io.BytesIO(data), encoding))


def _pick_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _runaway_quote(row: int) -> TableError:
    return TableError(
        _(
            'Row %(row)s opens a quote (") that is not closed on its line, so the rows after it '
            "were read into one of its cells. Close the quote or remove it, and upload the file "
            "again."
        )
        % {"row": row},
        code="open_quote",
        row=row,
    )


def _swallowed_rows(cells: list[str], delimiter: str) -> bool:
    """A cell holding a line break followed by a separator: a quote opened in the cell ran on
    into the next lines (a real multi-line cell, such as a note, has no separator after its
    line break)."""
    for cell in cells:
        if "\n" in cell or "\r" in cell:
            cut = min(i for i in (cell.find("\n"), cell.find("\r")) if i >= 0)
            if delimiter in cell[cut:]:
                return True
    return False


def _count_line_breaks(binary: IO[bytes]) -> int:
    count = 0
    while block := binary.read(1 << 20):
        count += block.count(b"\n")
    binary.seek(0)
    return count


def _records(binary: IO[bytes], encoding: str, delimiter: str) -> tuple[_Lines, Iterator[Any]]:
    lines = _Lines(binary, encoding)
    reader = csv.reader(iter(lines), delimiter=delimiter, quotechar='"', strict=False)

    def records() -> Iterator[tuple[int, list[str]]]:
        number = 0
        while True:
            number += 1
            lines.record = number
            start_line = reader.line_num
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
            if reader.line_num - start_line > 1 and _swallowed_rows(cells, delimiter):
                raise _runaway_quote(number)
            yield number, _trim(cells)

    return lines, records()


def _read_csv(binary: IO[bytes], head: bytes, *, max_rows: int) -> Table:
    complete = len(head) < _SNIFF_BYTES
    encoding = _guess_encoding(head, complete)
    sample = head.removeprefix(codecs.BOM_UTF8) if encoding == "utf-8-sig" else head
    first_line = sample.split(b"\n", 1)[0].decode(
        "utf-8" if encoding != "gb18030" else "gb18030", "replace"
    )
    delimiter = _pick_delimiter(first_line)
    if _count_line_breaks(binary) > max_rows:
        # Enough lines to cross a limit: read the file through once, without checking a row,
        # so that a file over the row limit (or unreadable further on) is refused now, at the
        # first row over, rather than after every row before it was checked.
        _lines, counted = _records(binary, encoding, delimiter)
        _header, data = _with_limits(counted, max_rows)
        for _row in data:
            pass
        binary.seek(0)
    lines, records = _records(binary, encoding, delimiter)
    (header_row, header), data = _with_limits(records, max_rows)
    return Table(
        format="csv",
        encoding=lines.encoding,
        delimiter=delimiter,
        header=[normalise_cell(c) for c in header],
        header_row=header_row,
        _rows=data,
    )
