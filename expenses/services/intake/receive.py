"""Receiving an expense report, a file or the API's JSON lines: refused early when it cannot be
read (nothing stored), stored with its digest, replayed for the same Idempotency-Key, and
checked at once when small or by a worker."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from expenses.audit import ExpenseAction
from expenses.models import ExpenseReport, ReportSource, ReportStatus
from portal import policy
from portal.errors import DomainError
from portal.models import ApiKey, Company, User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from portal.tabular import TableError, match_headers, screen_table

from .base import EXPENSE_COLUMNS, REQUIRED_COLUMNS
from .check import expense_report_check

logger = logging.getLogger(__name__)

JSON_FILE_NAME = "lines.json"


def _too_large(size: int) -> TableError:
    mb = 1024 * 1024
    return TableError(
        _("The file is %(size)s MB; files of at most %(max)s MB are accepted.")
        % {
            "size": f"{size / mb:.1f}".removesuffix(".0"),
            "max": f"{settings.UPLOAD_MAX_BYTES / mb:.1f}".removesuffix(".0"),
        },
        code="too_large",
    )


def _raw_file(file: UploadedFile) -> IO[bytes]:
    raw: IO[bytes] = getattr(file, "file", None) or file
    raw.seek(0)
    return raw


def _json_lines(lines: Any) -> bytes:
    """The API's lines as stored: canonical JSON (the digest of an Idempotency-Key's body)."""
    if not isinstance(lines, list) or not lines:
        raise DomainError(
            {"lines": [_("Send the report's claim lines: a list with at least one line.")]},
            code="no_rows",
        )
    if len(lines) > settings.UPLOAD_MAX_ROWS:
        raise DomainError(
            {
                "lines": [
                    _("A report has at most %(max)s lines; this one has %(count)s.")
                    % {"max": f"{settings.UPLOAD_MAX_ROWS:,}", "count": f"{len(lines):,}"}
                ]
            },
            code="too_many_rows",
        )
    for number, item in enumerate(lines, start=1):
        if not isinstance(item, dict):
            raise DomainError(
                {
                    f"lines[{number - 1}]": [
                        _("Line %(line)s is not an object of fields.") % {"line": number}
                    ]
                },
                code="invalid",
            )
    return json.dumps(
        lines, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _idempotency_refusal() -> DomainError:
    return DomainError(
        _(
            "This Idempotency-Key was used with a different report. Use a new key for a new "
            "report; send the original report unchanged to get its answer."
        ),
        code="idempotency_key_reused",
    )


def _replay(company: Company, key: str, digest: str) -> ExpenseReport:
    existing = ExpenseReport.objects.get(company=company, idempotency_key=key)
    if existing.request_digest != digest:
        raise _idempotency_refusal()
    return existing


def expense_report_receive(
    *,
    company: Company,
    user: User,
    upload: UploadedFile | None = None,
    lines: list[dict[str, Any]] | None = None,
    via_key: ApiKey | None = None,
    idempotency_key: str | None = None,
    ip: str | None = None,
) -> ExpenseReport:
    """Store an expense report, a file (``upload``: CSV or XLSX) or JSON ``lines``, and check it:
    at once when it is at most ``EXPENSE_REPORT_INLINE_MAX_BYTES``, else in a worker (status
    CHECKING, then MATCHING; ``expense_report_progress`` says where it is).

    Refused before anything is stored (ValidationError; TableError for a file): a file over
    ``UPLOAD_MAX_BYTES``, empty, not CSV or XLSX, an XLSX zip bomb or over the row limits, a
    CSV file whose header lacks a required column; lines that are not a list of objects, or
    more than ``UPLOAD_MAX_ROWS``. Row errors do not refuse the report: it is stored INVALID
    with its errors and an error file, and writes no line.

    ``idempotency_key``: the same key with the same file or lines answers the same report
    (nothing is stored again); with another body, a ValidationError ``idempotency_key_reused``.
    The unique (company, idempotency key) index decides between two concurrent requests."""
    policy.require(company, user, Action.EXPENSES_UPLOAD)
    if (upload is None) == (lines is None):
        raise DomainError(_("Send either a file or lines, not both."), code="invalid")
    if upload is not None:
        size = upload.size or 0
        if size > settings.UPLOAD_MAX_BYTES:
            raise _too_large(size)
        name = os.path.basename(upload.name or "expense-report")[:200] or "expense-report"
        raw = _raw_file(upload)
        # Cheap checks only: a workbook is never opened here (the check opens it and reports a
        # missing column as its failure).
        screened = screen_table(
            raw,
            file_name=name,
            max_bytes=settings.UPLOAD_MAX_BYTES,
            max_rows=settings.UPLOAD_MAX_ROWS,
        )
        if screened.header is not None:
            match_headers(screened.header, EXPENSE_COLUMNS, REQUIRED_COLUMNS)
        raw.seek(0)
        digest = hashlib.file_digest(raw, "sha256").hexdigest()  # type: ignore[arg-type]
        raw.seek(0)
        content: File[Any] = File(raw, name=name)
        source, fmt, encoding = ReportSource.FILE, screened.format, screened.encoding
    else:
        data = _json_lines(lines)
        name, size, digest = JSON_FILE_NAME, len(data), hashlib.sha256(data).hexdigest()
        content = ContentFile(data, name=name)
        source, fmt, encoding = ReportSource.API, "json", "utf-8"
    inline = size <= settings.EXPENSE_REPORT_INLINE_MAX_BYTES
    report = ExpenseReport(
        company=company,
        created_by=user,
        created_via_key=via_key,
        source=source,
        idempotency_key=idempotency_key or None,
        request_digest=digest if idempotency_key else "",
        file_name=name,
        file_size=size,
        file_sha256=digest,
        file_format=fmt,
        encoding=encoding,
        status=ReportStatus.RECEIVED if inline else ReportStatus.CHECKING,
        result={"language": translation.get_language() or settings.LANGUAGE_CODE},
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError:
            if not idempotency_key:
                raise
            return _replay(company, idempotency_key, digest)
        report.file.save(name, content, save=False)
        try:
            report.save(update_fields=["file"])
            audit_record(
                action=ExpenseAction.REPORT_RECEIVED,
                actor=user,
                company=company,
                obj=report,
                ip=ip,
                changes={
                    "file": name,
                    "size": size,
                    "sha256": digest,
                    "format": fmt,
                    "via": "api" if via_key else "portal",
                },
            )
            if not inline:
                from expenses import tasks

                outbox_enqueue(tasks.expense_report_process, report.pk)
        except BaseException:
            report.file.delete(save=False)
            raise
    if inline:
        report = _check_inline(report)
    return report


def _check_inline(report: ExpenseReport) -> ExpenseReport:
    """Check (and match) a small report while the buyer waits. If the matching breaks down, a
    worker takes it over (the report stays MATCHING, its lines written or, when they were being
    matched before their write, not yet: the worker checks it again; its retries decide)."""
    try:
        return expense_report_check(report_id=report.pk)
    except Exception:
        report.refresh_from_db()
        if report.status != ReportStatus.MATCHING:
            raise
        logger.exception("expense report %s: matching in the request failed", report.pk)
        from expenses import tasks

        with transaction.atomic():
            outbox_enqueue(tasks.expense_report_process, report.pk)
        return report
