"""Filed compliance reports, the deposit (escrow) balances operators record, and the daily
deposit check (issue 17). Filed reports and deposit records are facts: the database refuses to
update or delete them (compliance/migrations/0002); a correction is a new row."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class ImmutableRow(Exception):
    """A filed report or deposit record was about to be changed or deleted."""


class AppendOnlyModel(models.Model):
    """Rows written once: ``save`` inserts only, ``delete`` is refused (the database trigger
    refuses both as well, whatever path the change takes)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRow(f"{self._meta.label} {self.pk} is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRow(f"{self._meta.label} {self.pk} is append-only")


class FiledReport(AppendOnlyModel):
    """One filed version of a report of one kind for one period: its content as canonical JSON,
    the XLSX and PDF written from it, each with its SHA-256. Version 1 is the first filing; a
    correction files version n + 1, which names the version it supersedes and why."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("report kind"), max_length=32)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    version = models.PositiveIntegerField(_("version"))
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        verbose_name=_("supersedes"),
    )
    correction_reason = models.CharField(_("reason for the correction"), max_length=500, blank=True)
    content_json = models.TextField(_("content (canonical JSON)"))
    content_sha256 = models.CharField(_("SHA-256 of the content"), max_length=64)
    language = models.CharField(_("language"), max_length=16)
    xlsx = models.BinaryField(_("XLSX file"))
    xlsx_sha256 = models.CharField(_("SHA-256 of the XLSX file"), max_length=64)
    pdf = models.BinaryField(_("PDF file"))
    pdf_sha256 = models.CharField(_("SHA-256 of the PDF file"), max_length=64)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("filed by"),
    )
    filed_at = models.DateTimeField(_("filed at"), default=timezone.now)

    class Meta:
        verbose_name = _("compliance report")
        verbose_name_plural = _("compliance reports")
        ordering = ["-period_end", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "period_start", "period_end", "version"],
                name="filedreport_version_once",
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="filedreport_version_gte_1"
            ),
            models.CheckConstraint(
                condition=models.Q(version=1, supersedes__isnull=True)
                | (
                    models.Q(version__gt=1, supersedes__isnull=False)
                    & ~models.Q(correction_reason="")
                ),
                name="filedreport_correction_names_previous",
            ),
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="filedreport_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        """The report's title in the reader's language, its period and version (the admin's
        page title, breadcrumbs and history name a filing by it)."""
        from compliance.content import Period
        from compliance.kinds import REPORT_KINDS
        from compliance.periods import period_label

        kind = REPORT_KINDS.get(self.kind)
        return gettext("%(report)s %(period)s, version %(version)s") % {
            "report": kind.title if kind is not None else self.kind,
            "period": period_label(Period(start=self.period_start, end=self.period_end)),
            "version": self.version,
        }


class DepositRecord(AppendOnlyModel):
    """The escrow (deposit) account's balance on a date, as an operator read it from the bank,
    and any bank guarantee that counts towards the required deposit. A correction is a new
    record for the same date: the latest recorded one for a date is the one that counts."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    as_of = models.DateField(_("as of"))
    escrow_balance = models.DecimalField(_("escrow bank balance"), max_digits=14, decimal_places=2)
    guarantee_amount = models.DecimalField(
        _("guarantee counting towards the deposit"), default=0, max_digits=14, decimal_places=2
    )
    bank = models.CharField(_("escrow bank"), max_length=120, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("deposit record")
        verbose_name_plural = _("deposit records")
        ordering = ["-as_of", "-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(escrow_balance__gte=0) & models.Q(guarantee_amount__gte=0),
                name="depositrecord_amounts_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.as_of} {self.escrow_balance} + {self.guarantee_amount}"

    @property
    def deposit_total(self) -> Any:
        return self.escrow_balance + self.guarantee_amount


class DepositCheck(models.Model):
    """The daily live deposit check: what the ledger says is outstanding, what the deposit must
    be, and the latest recorded deposit. One row per day (a second run that day replaces it)."""

    date = models.DateField(_("date"), unique=True)
    outstanding = models.DecimalField(
        _("prepaid balance outstanding"), max_digits=14, decimal_places=2
    )
    ratio = models.DecimalField(_("required ratio"), max_digits=5, decimal_places=4)
    required = models.DecimalField(_("required deposit"), max_digits=14, decimal_places=2)
    deposit = models.DecimalField(_("deposit recorded"), max_digits=14, decimal_places=2)
    record = models.ForeignKey(
        DepositRecord,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("deposit record"),
    )
    shortfall = models.DecimalField(_("shortfall"), max_digits=14, decimal_places=2)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("deposit check")
        verbose_name_plural = _("deposit checks")
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"{self.date} {self.deposit}/{self.required}"
