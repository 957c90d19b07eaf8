"""Thin tasks of expense reconciliation: ids in, one service out."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import translation

from expenses.models import ExpenseReport, ReportStatus


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3700)
def expense_report_process(report_id: int) -> str:
    """Check a report too large to check while the buyer waits, then match it (or match again a
    report left MATCHING). Idempotent: a report no longer waiting is left alone; any failure
    marks it FAILED with a reason (never CHECKING or MATCHING for ever)."""
    from expenses.services.intake import (
        expense_report_check,
        expense_report_fail,
        report_progress_recorder,
    )
    from expenses.services.matching import report_match

    report = ExpenseReport.objects.filter(pk=report_id).first()
    if report is None:
        return "missing"
    waiting = (ReportStatus.RECEIVED, ReportStatus.CHECKING, ReportStatus.MATCHING)
    if report.status not in waiting:
        return "skipped"
    language = (report.result or {}).get("language") or settings.LANGUAGE_CODE
    progress = report_progress_recorder(report_id)
    with translation.override(language):
        try:
            if report.status == ReportStatus.MATCHING and not report.lines.exists():
                # Its check was matching the new lines when the worker stopped: nothing was
                # written, so the report is checked again from its file.
                ExpenseReport.objects.filter(pk=report_id, status=ReportStatus.MATCHING).update(
                    status=ReportStatus.CHECKING
                )
                report = expense_report_check(report_id=report_id, progress=progress)
            elif report.status == ReportStatus.MATCHING:
                report = report_match(report_id=report_id, progress=progress)
            else:
                report = expense_report_check(report_id=report_id, progress=progress)
        except Exception:
            expense_report_fail(
                report_id=report_id,
                reason=translation.gettext(
                    "The report could not be processed because of an error on our side; upload "
                    "it again, or send it to support."
                ),
            )
            raise
    return str(report.status)
