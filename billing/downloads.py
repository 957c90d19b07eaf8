"""The files billing hands out, as HTTP responses shared by the portal pages, the API and the
admin: a statement's stored file (checked against its SHA-256) and the aging report as CSV or
XLSX."""

from __future__ import annotations

import hashlib

from django.http import FileResponse, Http404, HttpResponse
from django.utils.translation import gettext as _

from billing.models import Statement, StatementFile
from billing.services.receivables import AgingReport, aging_export

STATEMENT_CONTENT_TYPES = {
    StatementFile.Format.PDF: "application/pdf",
    StatementFile.Format.CSV: "text/csv; charset=utf-8",
    StatementFile.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def statement_file_response(statement: Statement, fmt: str) -> FileResponse:
    """The stored bytes of one of the statement's files, checked against their SHA-256."""
    record = StatementFile.objects.filter(statement=statement, format=fmt).first()
    if record is None or statement.status != Statement.Status.ISSUED:
        raise Http404
    handle = record.file.open("rb")
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    if digest.hexdigest() != record.sha256:
        handle.close()
        raise Http404(_("The stored file does not match its checksum; operators were told."))
    handle.seek(0)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"{statement.number}.{fmt}",
        content_type=STATEMENT_CONTENT_TYPES[StatementFile.Format(fmt)],
    )
    response["X-Content-SHA256"] = record.sha256
    return response


def aging_export_response(report: AgingReport, *, fmt: str, detail: bool) -> HttpResponse:
    """The report as a CSV or XLSX download (``fmt`` one of ``EXPORT_TYPES``)."""
    data = aging_export(report, fmt=fmt, detail=detail)
    response = HttpResponse(data, content_type=EXPORT_TYPES[fmt])
    name = f"aging-{report.as_of.isoformat()}{'-detail' if detail else ''}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
