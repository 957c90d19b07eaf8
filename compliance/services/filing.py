"""Filing a compliance report: compute it, write its XLSX and PDF, keep all three with their
SHA-256 as an immutable version; a correction is the next version, with its reason."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from compliance.audit import ComplianceAction
from compliance.canonical import content_json, sha256_hex
from compliance.content import Period, ReportContent, ReportKind
from compliance.files import Heading, report_pdf, report_xlsx
from compliance.kinds import REPORT_KINDS
from compliance.models import FiledReport
from portal import days
from portal.errors import DomainError, StateConflict
from portal.models import User
from portal.services.audit import audit_record


@dataclass(frozen=True)
class Computed:
    kind: ReportKind
    period: Period
    content: ReportContent
    json: str
    sha256: str


def kind_get(key: str) -> ReportKind:
    try:
        return REPORT_KINDS[key]
    except KeyError:
        raise ValidationError(
            _("Report: %(value)s is not a report kind.") % {"value": key}, code="unknown_kind"
        ) from None


def report_compute(*, kind: str, period: Period) -> Computed:
    """The report's content for the period, as canonical JSON and its SHA-256 (a read: it
    writes nothing)."""
    report = kind_get(kind)
    # Computed in one language whoever asks, so that text a report writes eagerly (not a lazy
    # label) cannot make the same figures hash differently; lazy labels still render in the
    # reader's language in the XLSX, the PDF and the admin.
    with translation.override("en"):
        content = report.compute(period)
    text = content_json(report.key, period, content)
    return Computed(report, period, content, text, sha256_hex(text))


def filed_versions(*, kind: str, period: Period) -> list[FiledReport]:
    return list(
        FiledReport.objects.filter(
            kind=kind, period_start=period.start, period_end=period.end
        ).order_by("version")
    )


@transaction.atomic
def report_file(
    *,
    kind: str,
    period: Period,
    operator: User,
    reason: str = "",
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> FiledReport:
    """File the report of ``kind`` for ``period`` (over by ``now``): version 1, or, when it was
    filed before, a correction (the next version, naming the one it supersedes and why, refused
    when the figures did not change). Audited."""
    now = now or timezone.now()
    report = kind_get(kind)
    if period.end >= days.local(now).date():
        raise DomainError(
            _("The period ends on %(date)s: file the report once the period is over.")
            % {"date": period.end.isoformat()},
            code="period_not_over",
        )
    # No row lock (the application may not UPDATE filed reports, so it may not lock them): two
    # filings at once compute the same version, and the unique index lets one of them in.
    previous = (
        FiledReport.objects.filter(kind=kind, period_start=period.start, period_end=period.end)
        .order_by("-version")
        .first()
    )
    reason = (reason or "").strip()
    if previous is not None and not reason:
        raise DomainError(
            _(
                "Version %(version)s of this report is filed: give the reason for the "
                "correction, it is kept with version %(next)s."
            )
            % {"version": previous.version, "next": previous.version + 1},
            code="correction_reason_required",
        )
    computed = report_compute(kind=kind, period=period)
    if previous is not None and previous.content_sha256 == computed.sha256:
        raise StateConflict(
            _("The figures are the same as in version %(version)s: there is nothing to correct.")
            % {"version": previous.version},
            code="correction_unchanged",
        )
    version = previous.version + 1 if previous is not None else 1
    language = translation.get_language() or "zh-hans"
    head = Heading(report, period, version, computed.sha256, now)
    xlsx = report_xlsx(head, computed.content, language)
    pdf = report_pdf(head, computed.content, language)
    try:
        with transaction.atomic():
            filed = FiledReport.objects.create(
                kind=kind,
                period_start=period.start,
                period_end=period.end,
                version=version,
                supersedes=previous,
                correction_reason=reason[:500] if previous is not None else "",
                content_json=computed.json,
                content_sha256=computed.sha256,
                language=language,
                xlsx=xlsx,
                xlsx_sha256=sha256_hex(xlsx),
                pdf=pdf,
                pdf_sha256=sha256_hex(pdf),
                filed_by=operator,
                filed_at=now,
            )
    except IntegrityError:
        raise StateConflict(
            _("Another operator filed this report at the same time: reload and check it."),
            code="filed_concurrently",
        ) from None
    audit_record(
        action=ComplianceAction.REPORT_FILED,
        actor=operator,
        obj=filed,
        ip=ip,
        changes={
            "kind": kind,
            "period": [period.start.isoformat(), period.end.isoformat()],
            "version": version,
            "content_sha256": computed.sha256,
            "xlsx_sha256": filed.xlsx_sha256,
            "pdf_sha256": filed.pdf_sha256,
            **({"reason": reason} if previous is not None else {}),
        },
    )
    return filed


def filed_period(filed: FiledReport) -> Period:
    return Period(filed.period_start, filed.period_end)


def filed_report_reproduce(filed: FiledReport) -> tuple[Computed, bytes]:
    """The report computed again for the filed period, and its XLSX written with the filing's
    version, time and language: the same as filed when nothing changed in the period's data."""
    computed = report_compute(kind=filed.kind, period=filed_period(filed))
    head = Heading(computed.kind, computed.period, filed.version, computed.sha256, filed.filed_at)
    return computed, report_xlsx(head, computed.content, filed.language)


@transaction.atomic
def filed_report_download(
    *, filed: FiledReport, fmt: str, operator: User, ip: str | None = None
) -> bytes:
    """The filed file in ``fmt`` (``xlsx`` or ``pdf``), exactly as filed; the download is
    audited."""
    if fmt not in ("xlsx", "pdf"):
        raise ValidationError(
            _("Format: %(value)s is not offered; choose xlsx or pdf.") % {"value": fmt},
            code="unknown_format",
        )
    data = bytes(filed.xlsx if fmt == "xlsx" else filed.pdf)
    audit_record(
        action=ComplianceAction.REPORT_DOWNLOADED,
        actor=operator,
        obj=filed,
        ip=ip,
        changes={"format": fmt, "version": filed.version, "kind": filed.kind},
    )
    return data
