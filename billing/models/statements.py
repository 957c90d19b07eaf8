"""Statements of account and their files."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from portal.models import Company


def _statement_path(instance: StatementFile, filename: str) -> str:
    statement = instance.statement
    return f"statements/{statement.company_id}/{statement.public_id}/{filename}"


class Statement(models.Model):
    """A company's statement of account for a period (dates inclusive, Asia/Shanghai days).
    Issued once and never changed: a re-issue is a new version. The unique constraint gives one
    statement per company, period and version however many schedulers or retries run."""

    class Status(models.TextChoices):
        BUILDING = "building", _("Being prepared")
        # "Issued" alone is also a date column's heading ("开具日期"); this is a state.
        ISSUED = "issued", pgettext_lazy("statement status", "Issued")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        ON_DEMAND = "on_demand", _("On demand")
        REISSUE = "reissue", _("Re-issue")

    class Failure(models.TextChoices):
        """Why a build failed, as a code: pages render the sentence in the reader's language;
        the exception itself stays in ``failure`` (operators only) and the log."""

        STORAGE = (
            "storage",
            _(
                "The statement's files could not be saved. This is usually temporary: retry in a "
                "few minutes."
            ),
        )
        DATABASE = (
            "database",
            _(
                "The statement could not be read from our records because the database was busy. "
                "Retry in a few minutes."
            ),
        )
        UNEXPECTED = (
            "unexpected",
            _(
                "An unexpected error stopped the statement from being prepared. Retry; if it fails "
                "again, contact us with the statement number."
            ),
        )

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="statements", verbose_name=_("company")
    )
    number = models.CharField(_("number"), max_length=40, unique=True)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.BUILDING
    )
    opening_balance = models.DecimalField(
        _("opening balance"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    closing_balance = models.DecimalField(
        _("closing balance"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    # Totals, aging and card activity as shown on the statement.
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    # The exception's text, for operators; never shown in the portal (``failure_code`` is).
    failure = models.CharField(_("reason"), max_length=500, blank=True)
    failure_code = models.CharField(
        _("reason code"), max_length=16, choices=Failure.choices, blank=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    issued_at = models.DateTimeField(pgettext_lazy("statement", "issued at"), null=True, blank=True)

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-period_end", "-version", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "period_start", "period_end", "version"],
                name="statement_one_per_version",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="statement_period_order",
            ),
        ]
        indexes = [models.Index(fields=["company", "-period_end"], name="statement_company_period")]

    def __str__(self) -> str:
        return self.number

    @property
    def failure_reason(self) -> str:
        """Why the build failed, in the reader's language ("" unless failed)."""
        if self.status != self.Status.FAILED:
            return ""
        return str(self.Failure(self.failure_code or self.Failure.UNEXPECTED).label)


class StatementFile(models.Model):
    """One rendering of a statement (PDF, CSV or XLSX), with the SHA-256 of its bytes."""

    class Format(models.TextChoices):
        PDF = "pdf", "PDF"
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="files")
    format = models.CharField(max_length=8, choices=Format.choices)
    file = models.FileField(upload_to=_statement_path, max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("statement file")
        verbose_name_plural = _("statement files")
        constraints = [
            models.UniqueConstraint(fields=["statement", "format"], name="statement_file_format")
        ]

    def __str__(self) -> str:
        return f"{self.statement} {self.format}"
