"""Files to download: the error file of a check (the rows again, each with its errors) and the
template to fill in."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from cards.models import OrderUpload
from cards.selectors import catalog_products
from portal.exports import CsvWriter, XlsxWriter, error_file_bytes
from portal.models import Company

from .base import TEMPLATE_HEADERS
from .scanner import _open_stored, _scanner


def upload_error_rows(upload: OrderUpload) -> Iterator[list[str]]:
    """The original header and rows, each with an error column (empty on a good row; the
    reasons, or the note of a skipped row), checked again the same way as the check."""
    with _open_stored(upload) as binary:
        scanner = _scanner(upload, binary)
        width = len(scanner.table.header)
        yield [*scanner.table.header, _("error")]
        for outcome in scanner.outcomes():
            cells = outcome.cells + [""] * (width - len(outcome.cells))
            # A blank row stays blank (a note would make it a row to check when the file comes
            # back); a total row keeps its note.
            text = "; ".join(f"{error['column']}: {error['reason']}" for error in outcome.errors)
            if not text and outcome.cells:
                text = outcome.note
            yield [*cells, text]


def upload_error_file(upload: OrderUpload, fmt: str) -> bytes:
    """The error file as CSV (UTF-8 with BOM) or XLSX, through portal/exports.py, safe to open
    and to upload again once fixed: in CSV a cell that would start a formula gets a leading
    apostrophe (which the check takes off again); in XLSX every cell is a string cell written as
    it was sent (a string cell is never a formula), so no apostrophe shows."""
    return error_file_bytes(upload_error_rows(upload), fmt, title=_("Order file"))


def upload_template(*, language: str, fmt: str, company: Company | None = None) -> bytes:
    """An order file to fill in: the headers in ``language`` ("zh-hans" or "en") and two
    example rows with real products of the catalog (the company's, given one), if any."""
    chinese = language.startswith("zh")
    header = TEMPLATE_HEADERS["zh-hans" if chinese else "en"]
    products = list(catalog_products(company)[:2])
    examples: list[list[Any]] = []
    people = (
        ("张三", "13800138000", "zhangsan@example.com", "E0001", "人力资源部", "节日福利")
        if chinese
        else ("Zhang San", "13800138000", "zhang.san@example.com", "E0001", "HR", "Holiday gift"),
        ("李四", "13900139000", "lisi@example.com", "E0002", "销售部", "")
        if chinese
        else ("Li Si", "13900139000", "li.si@example.com", "E0002", "Sales", ""),
    )
    for i, person in enumerate(people):
        product = products[i % len(products)] if products else None
        if product is not None:
            name = product.name if chinese or not product.name_en else product.name_en
            values = product.listed_face_values() if product.face_values else []
            face = values[min(i, len(values) - 1)] if values else product.face_min or Decimal(100)
        else:
            name, face = ("礼品卡" if chinese else "Gift card"), Decimal(100)
        examples.append([name, f"{face:f}".removesuffix(".00"), 1, *person])
    buffer = io.BytesIO()
    with translation.override("zh-hans" if chinese else "en"):
        if fmt == "xlsx":
            xlsx = XlsxWriter(buffer, title=_("Order file"), header=header, widths=[16] * 9)
            xlsx.writerows(examples)
            xlsx.close()
        elif fmt == "csv":
            writer = CsvWriter(buffer)
            writer.writerow(header)
            writer.writerows(examples)
            writer.close()
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()
