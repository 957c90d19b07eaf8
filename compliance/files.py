"""A report's XLSX and PDF, written from its content: both carry the SHA-256 of the content,
the period, the version and the time it was generated. The XLSX is deterministic (a fixed zip
timestamp): the same content, version and time give the same bytes."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from billing.pdf import render_pdf
from compliance.content import Period, ReportContent, ReportKind
from portal import days
from portal.exports import XlsxWriter

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Heading:
    kind: ReportKind
    period: Period
    version: int
    content_sha256: str
    generated_at: datetime.datetime

    @property
    def generated_text(self) -> str:
        return days.local(self.generated_at).strftime("%Y-%m-%d %H:%M:%S %z")


def _head_rows(head: Heading) -> list[list[Any]]:
    return [
        [str(head.kind.title)],
        [_("Period"), head.period.start, head.period.end],
        [_("Version"), head.version],
        [_("SHA-256 of the content"), head.content_sha256],
        [_("Generated at"), head.generated_text],
    ]


def report_rows(head: Heading, content: ReportContent) -> list[list[Any]]:
    """The workbook's rows: the heading, the figures (label, value), then each table (its title,
    its columns, its rows), then the notes; a blank row between the parts."""
    rows: list[list[Any]] = [*_head_rows(head), [], [_("Figures")]]
    rows += [[str(f.label), f.value] for f in content.figures]
    for table in content.tables:
        rows += [[], [str(table.title)], [str(c) for c in table.columns]]
        rows += [[str(v) if isinstance(v, Promise) else v for v in row] for row in table.rows]
    if content.notes:
        rows += [[], [_("Notes")], *([str(note)] for note in content.notes)]
    return rows


def report_xlsx(head: Heading, content: ReportContent, language: str) -> bytes:
    with translation.override(language):
        buffer = io.BytesIO()
        writer = XlsxWriter(
            buffer, str(head.kind.title), widths=(44, 22, 22, 18, 18, 18, 18), date_time=_ZIP_TIME
        )
        writer.writerows(report_rows(head, content))
        writer.close()
        return buffer.getvalue()


def report_pdf(head: Heading, content: ReportContent, language: str) -> bytes:
    with translation.override(language):
        return render_pdf(
            "compliance/report_pdf.html",
            {
                "head": head,
                "title": str(head.kind.title),
                "figures": content.figures,
                "tables": content.tables,
                "notes": content.notes,
            },
        )
