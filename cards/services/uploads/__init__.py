"""Order files: a buyer's CSV or XLSX of card lines, checked (a dry run with totals and every
error by row), then confirmed into one draft order, all lines in one transaction or nothing.

The format (docs/uploads.md): one row per line, columns in any order, headers in Chinese or
English (``ORDER_COLUMNS``). ``product`` and ``face value`` are required; without a quantity
column, or with the quantity cell empty, a row is one card. Blank rows and total rows
("合计", "Total"...) are skipped with a note naming the row; the same mobile, email or employee
id on two rows is a warning naming both (a person may get two cards), not an error.

Every line goes through ``cards.services.orders.LineRules``, the rules of the portal form and
the API, with the same messages. The file is normalised first (full-width characters, spaces,
thousands separators "1,000.00", currency signs, mobiles written "+86 138-0013-8000").

Small files are checked while the buyer waits; larger ones (``UPLOAD_INLINE_MAX_BYTES``) by the
``cards.tasks.upload_check`` task, with progress in ``rows_done``. A valid check keeps the
normalised lines in a file beside the upload (PostgreSQL COPY text), so that confirming reads
them once, re-checks each product, face value and quantity against the catalog and prices of
that moment, and streams the lines into the order with COPY: memory does not grow with the file.
"""

from .base import (
    MAX_STORED_ERRORS,
    MAX_STORED_NOTES,
    ORDER_COLUMNS,
    PROGRESS_EVERY,
    REQUIRED_COLUMNS,
    TEMPLATE_HEADERS,
    UploadAction,
)
from .check import upload_check, upload_fail, upload_progress
from .confirm import upload_confirm, upload_discard
from .files import upload_error_file, upload_error_rows, upload_template
from .messages import (
    in_every_language,
    localised,
    upload_errors,
    upload_messages,
    upload_result_for_reader,
)
from .receive import upload_receive

__all__ = [
    "MAX_STORED_ERRORS",
    "MAX_STORED_NOTES",
    "ORDER_COLUMNS",
    "PROGRESS_EVERY",
    "REQUIRED_COLUMNS",
    "TEMPLATE_HEADERS",
    "UploadAction",
    "in_every_language",
    "localised",
    "upload_check",
    "upload_confirm",
    "upload_discard",
    "upload_error_file",
    "upload_error_rows",
    "upload_errors",
    "upload_fail",
    "upload_messages",
    "upload_progress",
    "upload_receive",
    "upload_result_for_reader",
    "upload_template",
]
