"""Receivables: invoice reminders, credit holds and the nightly ledger check."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.invoices import Invoice
from portal.models import Company


class InvoiceReminder(models.Model):
    """A reminder sent for an invoice; the unique pair makes each reminder go out once."""

    class Kind(models.TextChoices):
        BEFORE_DUE = "before_due", _("7 days before due")
        ON_DUE = "on_due", _("On the due date")
        AFTER_7 = "after_7", _("7 days overdue")
        AFTER_30 = "after_30", _("30 days overdue")

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="reminders", verbose_name=_("invoice")
    )
    kind = models.CharField(_("reminder"), max_length=16, choices=Kind.choices)
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)
    # Set by the email task: a message delivered twice emails once.
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invoice reminder")
        verbose_name_plural = _("invoice reminders")
        constraints = [
            models.UniqueConstraint(fields=["invoice", "kind"], name="invoice_reminder_once")
        ]

    def __str__(self) -> str:
        return f"{self.invoice} {self.kind}"


class CreditHold(models.Model):
    """A hold on a company's new credit orders while an invoice is past due + grace. Opened and
    lifted by the daily receivables task (and lifted when a payment clears the invoice)."""

    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="credit_holds", verbose_name=_("company")
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice")
    )
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    # Set by the notice task: a message delivered twice emails once.
    placed_notified_at = models.DateTimeField(_("placement notified at"), null=True, blank=True)
    lifted_notified_at = models.DateTimeField(_("lifting notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("credit hold")
        verbose_name_plural = _("credit holds")
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=models.Q(lifted_at__isnull=True),
                name="credit_hold_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.invoice}"


class LedgerCheck(models.Model):
    """The nightly recomputation of the money invariants. A row with ``ok`` false is an alert
    (operators are emailed and it shows in the admin)."""

    ran_at = models.DateTimeField(_("ran at"), default=timezone.now, db_index=True)
    ok = models.BooleanField(_("all invariants hold"))
    # Each check: name → {"expected": "...", "actual": "...", "ok": bool, ...}
    results = models.JSONField(_("results"), default=dict)

    class Meta:
        verbose_name = _("ledger check")
        verbose_name_plural = _("ledger checks")
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"{self.ran_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'DRIFT'}"
