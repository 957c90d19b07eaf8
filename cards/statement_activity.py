"""The card activity section of a company's statement (registered with billing in
``CardsConfig.ready``; billing never imports this app).

The summary is a handful of SQL aggregates. The detail (every card issued in the period: serial,
face value, recipient, employee ID, cost center, order number, issue time; never a code) is
written by PostgreSQL itself with ``COPY (SELECT ...) TO STDOUT``, streamed block by block into
the statement's files, so neither Python nor memory sees 100,000 rows one at a time:

- CSV: ``COPY ... (FORMAT csv)`` quotes per RFC 4180; text cells that would start a formula get
  a leading apostrophe in SQL (as ``portal.exports.safe_cell`` does), line breaks inside a value
  become spaces, and the line ends are turned into CRLF on the way through.
- XLSX: the query renders each worksheet ``<row>`` (inline strings, never formulas; XML-escaped,
  characters XML forbids removed, backslashes as character references so that ``COPY``'s text
  format passes the row through unchanged), in the cell styles of ``portal.exports.XlsxWriter``.

Balances as of a moment: a card's balance is its face value plus its own transactions, so the
outstanding value at the period end is the face value of the company's cards issued before it
plus the (signed) amounts of their transactions before it.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO, quantize
from cards.models import Card
from portal.exports import CsvWriter, row_xml, safe_cell

# The text columns come from the order line and the order: a handful of distinct values per
# company-month however many cards. They are neutralised and escaped once per batch (the
# MATERIALIZED CTE keeps PostgreSQL from inlining it and escaping them again for every card);
# each card row then only concatenates.
_BATCHES = """
    SELECT b.id, {columns}
    FROM cards_batch b
    JOIN cards_orderline l ON l.id = b.line_id
    JOIN cards_order o ON o.id = b.order_id
    WHERE b.company_id = %(company)s
"""

_CARDS = """
    FROM cards_card c JOIN batches t ON t.id = c.batch_id
    WHERE c.created_at >= %(start)s AND c.created_at < %(end)s
"""

_TEXT_COLUMNS = (
    ("l.recipient_name", "recipient"),
    ("l.employee_id", "employee"),
    ("l.cost_center", "cost_center"),
    ("o.number", "order_no"),
)


def _safe(expression: str) -> str:
    """SQL: the text with a leading apostrophe when it starts like a formula (OWASP), and
    with line breaks and tabs inside it made spaces."""
    neutral = (
        f"CASE WHEN left({expression}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        f"THEN '''' || {expression} ELSE {expression} END"
    )
    return f"translate({neutral}, chr(9) || chr(10) || chr(13), '   ')"


def _xml(expression: str) -> str:
    """SQL: neutralised text, stripped of what XML 1.0 forbids, escaped for element content."""
    cleaned = f"regexp_replace({_safe(expression)}, '[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f]', '', 'g')"
    escaped = cleaned
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\\", "&#92;")):
        escaped = f"replace({escaped}, '{char}', '{entity}')"
    return escaped


_CSV_SQL = (
    "COPY (WITH batches AS MATERIALIZED ("
    + _BATCHES.format(
        columns=", ".join(f"{_safe(column)} AS {name}" for column, name in _TEXT_COLUMNS)
    )
    + ") SELECT lpad(c.serial::text, 16, '0'), c.face_value, "
    + ", ".join(f"t.{name}" for _column, name in _TEXT_COLUMNS)
    + ", to_char(c.created_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI:SS')"
    + _CARDS
    + " ORDER BY c.serial) TO STDOUT WITH (FORMAT csv)"
)


def _inline_text(expression: str) -> str:
    """SQL, once per batch: the escaped text of an inline-string cell, NULL for empty text."""
    return f"CASE WHEN {expression} = '' THEN NULL ELSE {_xml(expression)} END"


def _inline(column: str, name: str) -> str:
    """SQL, per card: an inline-string cell, or nothing for empty (NULL) text."""
    return (
        f'coalesce(\'<c r="{column}\' || n || \'" t="inlineStr"><is><t xml:space="preserve">\' || '
        f"{name} || '</t></is></c>', '')"
    )


# Style 2 is XlsxWriter's date-and-time style; Excel counts days from 1899-12-30. Row numbers
# count from the sheet's first card (``row_number()`` also counts the rows OFFSET skips).
_XLSX_SQL = (
    "COPY (WITH batches AS MATERIALIZED ("  # noqa: S608 - constant SQL, values bound
    + _BATCHES.format(
        columns=", ".join(f"{_inline_text(column)} AS {name}" for column, name in _TEXT_COLUMNS)
    )
    + ") SELECT '<row r=\"' || n || '\">' || "
    "'<c r=\"A' || n || '\" t=\"inlineStr\"><is><t>' || lpad(serial::text, 16, '0') "
    "|| '</t></is></c>' || '<c r=\"B' || n || '\"><v>' || face_value || '</v></c>' || "
    + " || ".join(
        _inline(letter, name) for letter, (_column, name) in zip("CDEF", _TEXT_COLUMNS, strict=True)
    )
    + " || '<c r=\"G' || n || '\" s=\"2\"><v>' || "
    "round(extract(epoch FROM (created_at AT TIME ZONE %(tz)s) - timestamp '1899-12-30') "
    "/ 86400, 8) || '</v></c></row>' "
    "FROM (SELECT %(first)s - 1 - %(offset)s + row_number() OVER (ORDER BY c.serial) AS n, "
    "c.serial, c.face_value, c.created_at, t.recipient, t.employee, t.cost_center, t.order_no"
    + _CARDS
    + " ORDER BY c.serial LIMIT %(limit)s OFFSET %(offset)s) AS page ORDER BY serial"
    ") TO STDOUT"
)


def _instant(value: datetime.datetime) -> Any:
    """An instant as the backend compares it: SQLite keeps naive UTC text, so an aware
    ``+08:00`` value bound as is would be compared as a string and be eight hours off."""
    return connection.ops.adapt_datetimefield_value(value)


def _amount(value: Any) -> Decimal:
    """A sum as a Decimal: SQLite adds decimal columns as floats (or integers)."""
    return quantize(Decimal(str(value)))


def _one_line(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _streams_with_copy() -> bool:
    """PostgreSQL writes the detail rows itself (``COPY``); other backends read them through
    the ORM."""
    return connection.vendor == "postgresql"


def _detail_rows(
    company_id: int,
    start: datetime.datetime,
    end: datetime.datetime,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> list[list[Any]]:
    """The detail rows through the ORM, for backends without ``COPY`` (the embedded default's
    SQLite, where a company's statement has few cards); text as ``_safe`` makes it in SQL."""
    cards = (
        Card.objects.filter(batch__company_id=company_id, created_at__gte=start, created_at__lt=end)
        .order_by("serial")
        .values_list(
            "serial",
            "face_value",
            "batch__line__recipient_name",
            "batch__line__employee_id",
            "batch__line__cost_center",
            "batch__order__number",
            "created_at",
        )
    )
    page = cards[offset : offset + limit] if limit is not None else cards[offset:]
    return [
        [f"{serial:016d}", face, *(_one_line(safe_cell(text or "")) for text in texts), created_at]
        for serial, face, *texts, created_at in page
    ]


class CardStatementActivity:
    """Registered with ``billing.statement_sections.register_card_activity``."""

    def header(self) -> list[str]:
        return [
            _("Serial"),
            _("Face value"),
            _("Recipient"),
            _("Employee ID"),
            _("Cost center"),
            _("Order"),
            _("Issued at"),
        ]

    def summary(
        self, *, company_id: int, start: datetime.datetime, end: datetime.datetime
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "company": company_id,
            "start": _instant(start),
            "end": _instant(end),
        }
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE c.created_at >= %(start)s), "
                "coalesce(sum(c.face_value) FILTER (WHERE c.created_at >= %(start)s), 0), "
                "coalesce(sum(c.face_value), 0) "
                "FROM cards_card c JOIN cards_batch b ON b.id = c.batch_id "
                "WHERE b.company_id = %(company)s AND c.created_at < %(end)s",
                params,
            )
            issued_count, issued_value, face_to_end = cursor.fetchone()
            cursor.execute(
                "SELECT t.kind, count(*) FILTER (WHERE t.created_at >= %(start)s), "
                "coalesce(sum(t.amount) FILTER (WHERE t.created_at >= %(start)s), 0), "
                "coalesce(sum(t.amount), 0) "
                "FROM cards_cardtransaction t JOIN cards_card c ON c.id = t.card_id "
                "JOIN cards_batch b ON b.id = c.batch_id "
                "WHERE b.company_id = %(company)s AND t.created_at < %(end)s GROUP BY t.kind",
                params,
            )
            movements = cursor.fetchall()
        in_period = {kind: (count, _amount(amount)) for kind, count, amount, _total in movements}
        moved_to_end = sum((_amount(total) for *_rest, total in movements), ZERO)

        def value(kind: str) -> str:
            # Redemptions, expiry and voids take value off the cards (negative amounts).
            return str(-in_period.get(kind, (0, ZERO))[1])

        return {
            "issued_count": issued_count,
            "issued_value": str(_amount(issued_value)),
            "redeemed_count": in_period.get("redeem", (0, ZERO))[0],
            "redeemed_value": value("redeem"),
            "refunded_value": str(in_period.get("refund", (0, ZERO))[1]),
            "expired_value": value("expire"),
            "voided_value": value("void"),
            "outstanding_value": str(_amount(face_to_end) + moved_to_end),
        }

    def write_csv_rows(
        self,
        *,
        company_id: int,
        start: datetime.datetime,
        end: datetime.datetime,
        out: IO[bytes],
    ) -> int:
        if not _streams_with_copy():
            writer = CsvWriter(out, bom=False)
            detail = _detail_rows(company_id, start, end)
            for *values, created_at in detail:
                writer.writerow([*values, f"{timezone.localtime(created_at):%Y-%m-%d %H:%M:%S}"])
            writer.close()
            return len(detail)
        params = {"company": company_id, "start": start, "end": end, "tz": settings.TIME_ZONE}
        rows = 0
        with connection.cursor() as cursor, cursor.cursor.copy(_CSV_SQL, params) as copy:
            for block in copy:
                data = bytes(block)
                rows += data.count(b"\n")
                out.write(data.replace(b"\n", b"\r\n"))
        return rows

    def write_xlsx_rows(
        self,
        *,
        company_id: int,
        start: datetime.datetime,
        end: datetime.datetime,
        first_row: int,
        max_rows: int,
        out: IO[bytes],
        offset: int = 0,
    ) -> int:
        if not _streams_with_copy():
            detail = _detail_rows(company_id, start, end, offset=offset, limit=max_rows)
            for number, values in enumerate(detail, start=first_row):
                out.write(row_xml(number, values).encode())
            return len(detail)
        params = {
            "company": company_id,
            "start": start,
            "end": end,
            "tz": settings.TIME_ZONE,
            "first": first_row,
            "limit": max_rows,
            "offset": offset,
        }
        rows = 0
        with connection.cursor() as cursor, cursor.cursor.copy(_XLSX_SQL, params) as copy:
            for block in copy:
                data = bytes(block)
                rows += data.count(b"\n")
                out.write(data)
        return rows


card_statement_activity = CardStatementActivity()
