"""Orders with their lines as CSV or XLSX: the portal's order list ("Export CSV / XLSX"), the
API (``GET /api/v1/orders/export``) and nothing else read this module.

The caller passes the orders already scoped to one company and filtered as its list is
(``cards.selectors.orders_search`` through the list's own filter code), so an export holds
exactly what the list shows, newest first, one row per line (an order without lines is one row
with the line columns empty). Recipients appear as the order page shows them: the name, the
email and mobile masked (``cards.services.recipients.masked_contact``), the employee ID and cost
center. Never a card code, never a purchase registration (its ID number).

Rows are read in chunks of ``CHUNK`` orders (two queries a chunk), so memory stays flat; the CSV
is produced as a stream of byte blocks, the XLSX into a temporary file the response streams.
Cells go through ``portal.exports``: formulas neutralised, identifiers text, amounts numbers.
"""

from __future__ import annotations

import datetime
import io
import tempfile
from collections.abc import Iterator
from itertools import islice
from typing import IO, Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.models import Order, OrderLine
from cards.services.recipients import masked_contact
from portal.exports import CsvWriter, XlsxWriter

CHUNK = 500
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_WIDTHS = (18, 18, 16, 20, 18, 14, 14, 12, 12, 6, 20, 12, 8, 12, 12, 16, 22, 14, 14, 14)


def order_export_header() -> list[str]:
    return [
        _("Order number"),
        _("Created"),
        _("Status"),
        _("Created by"),
        _("Your reference"),
        _("Payment"),
        _("Delivery"),
        _("Order face value"),
        _("Order price"),
        _("Line"),
        _("Product"),
        _("Face value"),
        _("Quantity"),
        _("Unit price"),
        _("Amount"),
        _("Recipient"),
        _("Email"),
        _("Mobile"),
        _("Employee ID"),
        _("Cost center"),
    ]


def _order_cells(order: Order) -> list[Any]:
    creator = order.created_by
    return [
        order.number,
        timezone.localtime(order.created_at).replace(tzinfo=None),
        order.get_status_display(),
        (creator.get_full_name() or creator.email) if creator else "",
        order.client_reference or "",
        order.get_payment_method_display(),
        order.get_delivery_method_display(),
        order.face_total,
        order.total,
    ]


def _line_cells(line: OrderLine) -> list[Any]:
    recipient = masked_contact(
        name=line.recipient_name, email=line.recipient_email, mobile=line.recipient_mobile
    )
    return [
        line.position,
        line.product.display_name,
        line.face_value,
        line.quantity,
        line.unit_price,
        line.amount,
        recipient["name"],
        recipient["email"],
        recipient["mobile"],
        line.employee_id,
        line.cost_center,
    ]


def order_export_rows(orders: QuerySet[Order]) -> Iterator[list[Any]]:
    """One row per order line of ``orders`` (scoped and filtered by the caller), in the
    queryset's order, lines by position."""
    ids = orders.values_list("pk", flat=True).iterator(chunk_size=CHUNK)
    while chunk := list(islice(ids, CHUNK)):
        by_id = Order.objects.select_related("created_by").in_bulk(chunk)
        lines: dict[int, list[OrderLine]] = {}
        for line in (
            OrderLine.objects.filter(order_id__in=chunk)
            .select_related("product")
            .order_by("order_id", "position")
        ):
            lines.setdefault(line.order_id, []).append(line)
        for pk in chunk:
            order_cells = _order_cells(by_id[pk])
            if pk not in lines:
                yield order_cells
            for line in lines.get(pk, ()):
                yield [*order_cells, *_line_cells(line)]


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return value


def order_export_csv(orders: QuerySet[Order]) -> Iterator[bytes]:
    """The CSV (UTF-8 with BOM, RFC 4180), block by block for a streaming response."""
    buffer = io.BytesIO()
    writer = CsvWriter(buffer)
    writer.writerow(order_export_header())
    for count, row in enumerate(order_export_rows(orders), start=1):
        writer.writerow([_csv_value(value) for value in row])
        if count % CHUNK == 0:
            writer.flush()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.close()
    yield buffer.getvalue()


def order_export_xlsx(orders: QuerySet[Order]) -> IO[bytes]:
    """The workbook in a temporary file, rewound, for a response to stream (closing it, as the
    response does, deletes it)."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    try:
        writer = XlsxWriter(handle, _("Orders"), order_export_header(), widths=_WIDTHS)
        try:
            writer.writerows(order_export_rows(orders))
        except BaseException:
            writer.abandon()
            raise
        writer.close()
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle


def order_export_filename(fmt: str) -> str:
    return f"orders-{timezone.localdate():%Y%m%d}.{fmt}"
