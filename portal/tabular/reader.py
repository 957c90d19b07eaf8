"""Opening an uploaded file: CSV or XLSX told apart by content, its size checked first."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from django.utils.translation import gettext as _

from .csv_reader import _SNIFF_BYTES, _read_csv
from .table import Table, TableError, _megabytes
from .xlsx_reader import _read_xlsx, screen_xlsx

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


@dataclass
class Screened:
    """What ``screen_table`` learnt of a file: its format, and for a CSV file its encoding and
    header (an XLSX file's header is not read: that needs its workbook opened)."""

    format: str
    encoding: str
    header: list[str] | None


def read_table(data: bytes | IO[bytes], *, file_name: str, max_bytes: int, max_rows: int) -> Table:
    """Open a CSV or XLSX file (told apart by content, not by name) and read its header.

    Raises TableError for an empty file, a file of only a header, a file that is neither CSV nor
    XLSX, one over ``max_bytes`` (from its size, before reading), an XLSX zip bomb, an XLSX
    sheet over the row or column limits (from its XML, before it is loaded), a CSV file over the
    row limit (read through once without a check, when it has more lines than ``max_rows``), a
    quote that swallows the rows after it, or text in no accepted encoding. The data rows are
    read lazily by ``Table.rows()``, which raises TableError when it meets row ``max_rows + 1``
    (data rows, not counting blank ones) or a row in another encoding.
    """
    binary, head = _open(data, file_name=file_name, max_bytes=max_bytes)
    if head.startswith(b"PK\x03\x04"):
        return _read_xlsx(binary, max_rows=max_rows)
    return _read_csv(binary, head, max_rows=max_rows)


def screen_table(
    data: bytes | IO[bytes], *, file_name: str, max_bytes: int, max_rows: int
) -> Screened:
    """The checks of ``read_table`` that cost little whatever the file (for the web process):
    the size, the format, for XLSX the zip and the sheet's rows and columns counted from its
    XML, without opening the workbook; for CSV the encoding, the header and the row limit."""
    binary, head = _open(data, file_name=file_name, max_bytes=max_bytes)
    if head.startswith(b"PK\x03\x04"):
        screen_xlsx(binary, max_rows=max_rows)
        return Screened(format="xlsx", encoding="", header=None)
    table = _read_csv(binary, head, max_rows=max_rows)
    binary.seek(0)
    return Screened(format="csv", encoding=table.encoding, header=table.header)


def _open(data: bytes | IO[bytes], *, file_name: str, max_bytes: int) -> tuple[IO[bytes], bytes]:
    """The file and its first bytes, once its size and kind allow reading it as a table."""
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
        return binary, head
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
    return binary, head


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


def iter_cells(rows: Iterable[tuple[int, list[str]]]) -> Iterator[list[str]]:
    """Just the cells of ``rows``."""
    for _number, cells in rows:
        yield cells
