"""A company's accounts for vouchers, and the voucher numbers a period's export gave."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from expenses.models.periods import ReconciliationPeriod
from portal.models import Company


class AccountMapping(models.Model):
    """Which accounts of the company's own chart the vouchers book to (set by finance)."""

    company = models.OneToOneField(
        Company, on_delete=models.PROTECT, related_name="expense_mapping"
    )
    prepaid_account = models.CharField(_("prepaid card account"), max_length=32)
    prepaid_account_name = models.CharField(_("prepaid card account name"), max_length=100)
    default_expense_account = models.CharField(_("default expense account"), max_length=32)
    default_expense_account_name = models.CharField(
        _("default expense account name"), max_length=100
    )
    # Book the employee as an auxiliary item (the employee sub-ledger) on expense lines.
    employee_subledger = models.BooleanField(_("employee sub-ledger"), default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("voucher account mapping")
        verbose_name_plural = _("voucher account mappings")

    def __str__(self) -> str:
        return str(self.company)


class AccountRule(models.Model):
    """An expense account for a category and/or cost center (blank matches any); the most
    specific rule wins."""

    mapping = models.ForeignKey(AccountMapping, on_delete=models.CASCADE, related_name="rules")
    category = models.CharField(_("category"), max_length=64, blank=True)
    cost_center = models.CharField(_("cost center"), max_length=64, blank=True)
    account = models.CharField(_("account"), max_length=32)
    account_name = models.CharField(_("account name"), max_length=100)

    class Meta:
        verbose_name = _("expense account rule")
        verbose_name_plural = _("expense account rules")
        constraints = [
            models.UniqueConstraint(
                fields=["mapping", "category", "cost_center"], name="expaccountrule_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.account


class VoucherNumber(models.Model):
    """The number a period's voucher got the first time it was exported: a re-export of a
    closed period gives the same numbers."""

    period = models.ForeignKey(
        ReconciliationPeriod, on_delete=models.PROTECT, related_name="voucher_numbers"
    )
    key = models.CharField(max_length=200)  # what the voucher groups (e.g. cost center)
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "key"], name="expvoucher_period_key"),
            models.UniqueConstraint(fields=["period", "number"], name="expvoucher_period_number"),
        ]

    def __str__(self) -> str:
        return f"{self.period} #{self.number}"
