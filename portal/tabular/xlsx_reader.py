"""XLSX files: the zip checked for bombs before openpyxl opens it, cells as the text Excel shows."""

from __future__ import annotations

import datetime
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from .headers import normalise_cell
from .table import Table, TableError, _megabytes, _trim, _with_limits

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
