"""Payments received by bank transfer, the statement imports they come from, and their
allocations to invoices or company credit."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.invoices import Invoice
from billing.money import ZERO
from portal.models import Company


class BankStatementImport(models.Model):
    """One bank statement file an operator imported. Its lines become payments; a line seen
    before (same dedupe key) creates nothing, so importing a statement twice is harmless."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file_name = models.CharField(_("file name"), max_length=200)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    created_count = models.PositiveIntegerField(_("new payments"), default=0)
    duplicate_count = models.PositiveIntegerField(_("already imported"), default=0)
    matched_count = models.PositiveIntegerField(_("matched automatically"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        verbose_name = _("bank statement import")
        verbose_name_plural = _("bank statement imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.file_name


class Payment(models.Model):
    """Money received by bank transfer. Allocated to invoices (or kept as the company's credit)
    through ``Allocation`` rows; ``allocated_amount`` is their running sum."""

    class Status(models.TextChoices):
        UNMATCHED = "unmatched", _("Unmatched")
        PARTIAL = "partial", _("Partly allocated")
        ALLOCATED = "allocated", _("Allocated")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Entered by an operator")
        STATEMENT = "statement", _("Bank statement import")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Known once the payer is identified (by a match or by an operator).
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("company"),
    )
    bank_reference = models.CharField(_("bank reference"), max_length=64)
    # The same bank line imported twice (or typed twice) is one payment: a digest of the bank
    # reference, or of the line's date, amount, payer account and text when it has none.
    dedupe_key = models.CharField(max_length=64, unique=True)
    payer_name = models.CharField(_("payer"), max_length=200, blank=True)
    payer_account = models.CharField(_("payer account"), max_length=64, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    received_on = models.DateField(_("received on"))
    remittance = models.CharField(_("remittance text"), max_length=300, blank=True)
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.MANUAL
    )
    statement_import = models.ForeignKey(
        BankStatementImport,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("bank statement import"),
    )
    allocated_amount = models.DecimalField(
        _("allocated"), max_digits=14, decimal_places=2, default=ZERO
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.UNMATCHED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(
                condition=models.Q(
                    allocated_amount__gte=0, allocated_amount__lte=models.F("amount")
                ),
                name="payment_allocated_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_on"], name="payment_status_received"),
            models.Index(fields=["company", "received_on"], name="payment_company_received"),
        ]

    def __str__(self) -> str:
        return self.bank_reference

    @property
    def unallocated(self) -> Decimal:
        return self.amount - self.allocated_amount


class Allocation(models.Model):
    """Part of a payment applied to an invoice, or kept as the company's credit, or company
    credit applied to an invoice. Append-only: a reversal is a new row (negative amount) that
    names the allocation it reverses; each allocation can be reversed once."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Payment to invoice")
        TO_CREDIT = "to_credit", _("Payment kept as company credit")
        CREDIT_USE = "credit_use", _("Company credit to invoice")

    class Method(models.TextChoices):
        REFERENCE = "reference", _("Matched by reference")
        AMOUNT = "amount", _("Matched by unique amount")
        MANUAL = "manual", _("Allocated by an operator")
        CREDIT = "credit", _("Company credit applied")
        REVERSAL = "reversal", _("Reversal")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name=_("payment"),
    )
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name=_("invoice"),
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="allocation_nonzero"),
            models.CheckConstraint(
                condition=models.Q(reverses__isnull=True, amount__gt=0)
                | models.Q(reverses__isnull=False, amount__lt=0),
                name="allocation_sign",
            ),
        ]
        indexes = [models.Index(fields=["company", "created_at"], name="allocation_company_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"
