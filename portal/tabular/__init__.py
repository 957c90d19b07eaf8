"""Reading the tables people upload: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK; comma, semicolon
or tab) and XLSX, row by row, with limits checked before the work they protect.

What a user gets is what Excel shows: ``rows()`` yields ``(row_number, cells)`` with the row
number of the spreadsheet (the header is row 1), every cell as text (``100.0`` read from XLSX is
"100", a date is "2026-01-31"), trailing empty cells dropped. Blank rows (nothing but
whitespace, U+3000 included) are yielded too (as an empty list) so that a caller can say which
rows it skipped, except blank rows at the end of the file, which are dropped.

Limits: the size is checked from the file's size before a byte is read; the row limit stops the
reading as soon as the first row over it is seen; an XLSX file's zip members are checked (total
uncompressed size and compression ratio), then its first sheet's XML is counted (rows, and
columns beyond the limit) before python-calamine loads it; ``screen_table`` does only these
cheap checks (for the web process, which never loads a large workbook). A CSV file is decoded
line by line as it is read, so memory does not grow with the file; one with more lines than the
row limit is read through once, unchecked, before its rows are handed out.

Encodings: a byte order mark means UTF-8; otherwise the text is UTF-8 when it decodes as UTF-8,
and GB18030 (of which GBK and GB2312 are subsets) when it does not. A file that mixes both
(a UTF-8 file with a row pasted from a GBK one) is refused naming the first row that differs.
"""

from __future__ import annotations

from .csv_reader import decode_csv
from .headers import HeaderMatch, header_key, match_headers, normalise_cell
from .reader import Screened, iter_cells, read_table, screen_table
from .table import BLANK_ROWS_ALLOWED, Table, TableError
from .xlsx_reader import XLSX_MAX_COLUMNS, cell_text

__all__ = [
    "BLANK_ROWS_ALLOWED",
    "XLSX_MAX_COLUMNS",
    "HeaderMatch",
    "Screened",
    "Table",
    "TableError",
    "cell_text",
    "decode_csv",
    "header_key",
    "iter_cells",
    "match_headers",
    "normalise_cell",
    "read_table",
    "screen_table",
]
