"""Reconciliation periods (calendar months, Asia/Shanghai) and their immutable reports."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company


class PeriodStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class ReconciliationPeriod(models.Model):
    """A company's month of claims and card spend. Closing freezes its matches and resolutions
    and files its report; re-opening needs an owner and a reason (audited)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    month = models.DateField(_("month"))  # its first day
    status = models.CharField(
        _("status"), max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("reconciliation period")
        verbose_name_plural = _("reconciliation periods")
        ordering = ["company_id", "-month"]
        constraints = [
            models.UniqueConstraint(fields=["company", "month"], name="expperiod_company_month"),
        ]

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")


def _period_report_path(instance: PeriodReport, filename: str) -> str:
    return f"reconciliation/{instance.period.company_id}/{instance.public_id}/{filename}"


class PeriodReport(models.Model):
    """The reconciliation report filed when a period closes. Never changed: closing again after
    a re-open files a new version."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    period = models.ForeignKey(
        ReconciliationPeriod, on_delete=models.PROTECT, related_name="reports"
    )
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    file_format = models.CharField(_("format"), max_length=8)  # xlsx / pdf / csv
    file = models.FileField(upload_to=_period_report_path, max_length=200)
    file_sha256 = models.CharField(_("checksum (SHA-256)"), max_length=64)
    # The figures the report states (counts and amounts per state, unclaimed spend, ...).
    figures = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("reconciliation report")
        verbose_name_plural = _("reconciliation reports")
        ordering = ["period_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "version", "file_format"], name="expperiodreport_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} v{self.version}"
