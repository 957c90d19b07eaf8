"""The statement's files: CSV, XLSX and PDF, the exports written beside the PDF."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.db import connections
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from billing.models import StatementFile
from billing.money import format_cny
from billing.pdf import render_pdf
from billing.selectors import platform_seller
from billing.services.statements.content import AGING_BUCKETS, _Content, aging_labels
from billing.statement_sections import card_activity_provider
from portal.charts import BarChart, bar_chart
from portal.exports import XLSX_MAX_ROWS, CsvWriter, XlsxWriter


def _summary_rows(content: _Content) -> list[list[Any]]:
    s = content.summary
    labels = aging_labels()
    rows: list[list[Any]] = [
        [_("Statement of account"), content.statement.number],
        [_("Company"), content.company.legal_name],
        [_("Unified social credit code"), content.company.credit_code],
        [_("Period"), content.statement.period_start, content.statement.period_end],
        [_("Opening balance"), Decimal(s["opening"])],
        [_("Invoiced"), Decimal(s["invoiced"])],
        [_("Credited"), Decimal(s["credited"])],
        [_("Paid"), Decimal(s["paid"])],
        [_("Closing balance"), Decimal(s["closing"])],
        [],
        [_("Aging at the period end"), *(labels[name] for name in AGING_BUCKETS), _("Total")],
        [
            "",
            *(Decimal(s["aging"][name]) for name in AGING_BUCKETS),
            Decimal(s["aging"]["total"]),
        ],
    ]
    cards = s.get("cards") or {}
    if cards:
        rows += [
            [],
            [_("Cards issued"), cards["issued_count"], Decimal(cards["issued_value"])],
            [_("Redeemed"), cards["redeemed_count"], Decimal(cards["redeemed_value"])],
            [_("Refunded"), cards["refunded_count"], Decimal(cards["refunded_value"])],
            [_("Expired"), "", Decimal(cards["expired_value"])],
            [_("Outstanding at the period end"), "", Decimal(cards["outstanding_value"])],
        ]
        rows += _card_spend_rows(cards.get("spend_by_month") or [])
    rows += [[], [_("Date"), _("Type"), _("Document"), _("Debit"), _("Credit"), _("Balance")]]
    rows += [
        [
            line.at.replace(tzinfo=None),
            line.label,
            line.reference,
            line.debit,
            line.credit,
            line.balance,
        ]
        for line in content.lines
    ]
    return rows


def _card_spend_rows(months: list[dict[str, Any]]) -> list[list[Any]]:
    """Card spend by month (redemptions and refunds of the company's cards), under its header;
    nothing when the period has none."""
    if not months:
        return []
    return [
        [],
        [
            _("Card spend by month"),
            _("Redemptions"),
            _("Redeemed"),
            pgettext("count of card refunds", "Refunds"),
            _("Refunded"),
        ],
        *(
            [
                month["month"],
                month["redeemed_count"],
                Decimal(month["redeemed_value"]),
                month["refunded_count"],
                Decimal(month["refunded_value"]),
            ]
            for month in months
        ),
    ]


def _write_csv(content: _Content, path: Path) -> None:
    provider = card_activity_provider()
    with open(path, "wb") as binary:
        writer = CsvWriter(binary)
        for row in _summary_rows(content):
            if row and isinstance(row[0], datetime.datetime):
                row = [f"{row[0]:%Y-%m-%d %H:%M:%S}", *row[1:]]
            writer.writerow(row)
        if provider is not None:
            writer.writerow([])
            writer.writerow(provider.header())
        writer.close()
        if provider is not None:
            provider.write_csv_rows(
                company_id=content.company.pk, start=content.start, end=content.end, out=binary
            )


class _StatementXlsx(XlsxWriter):
    """The portal's streaming writer, with a second titled sheet whose rows PostgreSQL renders."""

    def start_sheet(self, title: str, header: list[str]) -> None:
        self._close_sheet()
        self._title = title
        self._header = header
        self._columns = []
        self._open_sheet()
        self._sheet_names[-1] = title[:31]

    def write_rendered_rows(self, write: Callable[[IO[bytes], int, int], int]) -> int:
        """``write(out, first_row, room)`` appends rendered ``<row>`` XML; returns its count."""
        self._flush()
        assert self._member is not None
        room = XLSX_MAX_ROWS - self._row
        written = write(self._member, self._row + 1, room)
        self._row += written
        return written


def _write_xlsx(content: _Content, path: Path) -> None:
    provider = card_activity_provider()
    with open(path, "wb") as binary:
        writer = _StatementXlsx(binary, _("Statement"), None, widths=(28, 20, 20, 14, 14, 14, 14))
        writer.writerows(_summary_rows(content))
        if provider is not None:
            title = _("Cards")
            writer.start_sheet(title, provider.header())
            done, sheet = 0, 1
            while True:

                def write(out: IO[bytes], first_row: int, room: int, offset: int = done) -> int:
                    return provider.write_xlsx_rows(
                        company_id=content.company.pk,
                        start=content.start,
                        end=content.end,
                        first_row=first_row,
                        max_rows=room,
                        offset=offset,
                        out=out,
                    )

                room = XLSX_MAX_ROWS - 1
                written = writer.write_rendered_rows(write)
                done += written
                if written < room:
                    break
                sheet += 1
                writer.start_sheet(f"{title} {sheet}", provider.header())
        writer.close()


def _write_pdf(content: _Content, path: Path) -> None:
    s = content.summary
    labels = aging_labels()
    pdf = render_pdf(
        "billing/statement_pdf.html",
        {
            "statement": content.statement,
            "company": content.company,
            "seller": platform_seller(),
            "summary": s,
            "opening": format_cny(content.opening),
            "closing": format_cny(content.closing),
            "invoiced": format_cny(Decimal(s["invoiced"])),
            "credited": format_cny(Decimal(s["credited"])),
            "paid": format_cny(Decimal(s["paid"])),
            # One row of six formatted cells per movement; the template lays them out as a
            # table with fixed columns and tabular figures, so amounts line up whatever the labels.
            "detail_rows": [
                [
                    f"{content.statement.period_start:%Y-%m-%d}",
                    _("Opening balance"),
                    "",
                    "",
                    "",
                    format_cny(content.opening),
                ],
                *(
                    [
                        f"{line.at:%Y-%m-%d}",
                        line.label,
                        line.reference,
                        format_cny(line.debit) if line.debit else "",
                        format_cny(line.credit) if line.credit else "",
                        format_cny(line.balance),
                    ]
                    for line in content.lines
                ),
                [
                    f"{content.statement.period_end:%Y-%m-%d}",
                    _("Closing balance"),
                    "",
                    "",
                    "",
                    format_cny(content.closing),
                ],
            ],
            "aging": [
                (labels[name], format_cny(Decimal(s["aging"][name]))) for name in AGING_BUCKETS
            ],
            "aging_total": format_cny(Decimal(s["aging"]["total"])),
            "cards": {
                key: (format_cny(Decimal(value)) if key.endswith("_value") else value)
                for key, value in (s.get("cards") or {}).items()
                if key != "spend_by_month"
            },
            "card_spend": [
                {
                    key: (format_cny(Decimal(value)) if key.endswith("_value") else value)
                    for key, value in month.items()
                }
                for month in (s.get("cards") or {}).get("spend_by_month") or []
            ],
            "issued_on": timezone.localdate(),
            "period_chart": period_chart(s),
        },
    )
    path.write_bytes(pdf)


def period_chart(summary: dict[str, Any]) -> BarChart:
    """The period in three bars: what was invoiced, credited and paid (the summary's figures)."""
    return bar_chart(
        [
            (_("Invoiced"), Decimal(summary["invoiced"])),
            (_("Credited"), Decimal(summary["credited"])),
            (_("Paid"), Decimal(summary["paid"])),
        ],
        key="statement-period",
        title=_("Invoiced, credited and paid in the period"),
        fmt=format_cny,
        width=420,
    )


def _write_exports(content: _Content, paths: dict[str, Path]) -> None:
    _write_csv(content, paths[StatementFile.Format.CSV])
    _write_xlsx(content, paths[StatementFile.Format.XLSX])


def _write_files(content: _Content, paths: dict[str, Path], *, overlap: bool) -> None:
    """The three files. With ``overlap``, the CSV and XLSX (PostgreSQL's work: COPY streamed to
    the files) are written by a second thread on a connection of its own while this one renders
    the PDF (Python's work), and both are done when this returns. Only reads happen there, and
    reads of committed rows: the caller must not have uncommitted writes the exports need to
    see (``_build`` overlaps only when its transaction is the outermost one)."""
    if not overlap:
        _write_pdf(content, paths[StatementFile.Format.PDF])
        _write_exports(content, paths)
        return
    language = translation.get_language()
    zone = timezone.get_current_timezone()
    failure: list[BaseException] = []

    def exports() -> None:
        try:
            with translation.override(language), timezone.override(zone):
                _write_exports(content, paths)
        except Exception as exc:  # noqa: BLE001 - re-raised by the building thread
            failure.append(exc)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=exports, name="statement-exports", daemon=True)
    thread.start()
    try:
        _write_pdf(content, paths[StatementFile.Format.PDF])
    finally:
        thread.join()
    if failure:
        raise failure[0]
