"""Invoices, credit notes and pro-formas, their lines and their gap-free numbering."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import line_text
from billing.money import ZERO
from portal.models import Company


class InvoiceSequence(models.Model):
    """The last number used per series and year. Taken with an upsert that holds the row lock
    until commit, so numbers have no gaps and no repeats under concurrency."""

    series = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="invoice_sequence_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last}"


class Invoice(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")
        PROFORMA = "proforma", _("Pro-forma invoice")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        OVERDUE = "overdue", _("Overdue")
        VOID = "void", _("Void")

    SERIES = {Kind.INVOICE: "INV", Kind.CREDIT_NOTE: "CN", Kind.PROFORMA: "PF"}
    TAX_CATEGORY = "prepaid_card_nontaxable"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    number = models.CharField(_("number"), max_length=32, unique=True)
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("company")
    )
    order_number = models.CharField(_("order"), max_length=32, db_index=True)
    # The buyer as it was on the issue date: an invoice never changes.
    buyer_name = models.CharField(_("buyer"), max_length=200)
    buyer_credit_code = models.CharField(_("unified social credit code"), max_length=18)
    tax_category = models.CharField(_("tax category"), max_length=32, default=TAX_CATEGORY)
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"), null=True, blank=True)
    face_total = models.DecimalField(_("face value total"), max_digits=14, decimal_places=2)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    paid_amount = models.DecimalField(_("paid"), default=ZERO, max_digits=14, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    payment_reference = models.CharField(
        _("payment reference"), max_length=20, null=True, blank=True, unique=True
    )
    credited_invoice = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_note",
        verbose_name=_("credits invoice"),
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
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "year", "sequence"], name="invoice_number_per_kind_year"
            ),
            models.CheckConstraint(condition=models.Q(total__gte=0), name="invoice_total_gte_0"),
            models.CheckConstraint(
                condition=models.Q(paid_amount__gte=0, paid_amount__lte=models.F("total")),
                name="invoice_paid_within_total",
            ),
        ]
        indexes = [models.Index(fields=["company", "status"], name="invoice_company_status")]

    def __str__(self) -> str:
        return self.number

    @property
    def balance_due(self) -> Decimal:
        if self.kind != self.Kind.INVOICE or self.status == self.Status.VOID:
            return ZERO
        return self.total - self.paid_amount

    @property
    def discount_total(self) -> Decimal:
        return self.face_total - self.total


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="lines", verbose_name=_("invoice")
    )
    position = models.PositiveIntegerField(verbose_name=_("position"))
    # What the line says, as a code and its facts (``billing.line_text``), rendered in the
    # reader's language by ``text``. ``description`` is the text of lines without a code (issued
    # before codes existed, or free text), shown as stored.
    description = models.CharField(_("description"), max_length=200, blank=True)
    description_code = models.CharField(max_length=32, blank=True, default="")
    description_params = models.JSONField(default=dict, blank=True)
    face_value = models.DecimalField(_("face value"), max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=4)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The line's description in the active language."""
        return line_text.render(self.description_code, self.description_params, self.description)
