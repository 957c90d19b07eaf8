"""Billing core: the double-entry ledger, pricing, credit lines and invoices.

This core never imports ``cards``: orders reach it as plain numbers and amounts.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.money import ZERO
from portal.models import Company


class Account(models.Model):
    """A ledger account. Platform accounts have no company; receivables are per company."""

    class Kind(models.TextChoices):
        RECEIVABLE = "receivable", _("Accounts receivable")
        # Sold, not yet issued: credited when the invoice is issued, moved to card liability
        # when the cards exist (one entry per batch). Card liability = live card balances.
        CARDS_TO_ISSUE = "cards_to_issue", _("Card liability, not yet issued")
        CARD_LIABILITY = "card_liability", _("Card liability")
        CASH = "cash", _("Cash at bank")
        DISCOUNTS = "discounts", _("Sales discounts")
        FEE_INCOME = "fee_income", _("Service fee income")
        BREAKAGE_INCOME = "breakage_income", _("Breakage income")
        COMPANY_CREDIT = "company_credit", _("Customer credit balance")

    code = models.CharField(_("code"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["code"]

    def __str__(self) -> str:
        label = self.get_kind_display()
        return f"{label} · {self.company}" if self.company_id else str(label)


class JournalEntry(models.Model):
    """One business event in the ledger. Its postings sum to zero: a deferred constraint trigger
    in PostgreSQL refuses to commit an entry that does not balance. Append-only."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=32)
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    # One posting per business event: the unique index makes a repeated post fail.
    idempotency_key = models.CharField(max_length=128, unique=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class Posting(models.Model):
    """One side of a journal entry: positive is a debit, negative a credit. Append-only."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        indexes = [models.Index(fields=["account", "entry"], name="posting_account_entry")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="posting_amount_nonzero")
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount}"


class CompanyPricing(models.Model):
    """The negotiated price of a company's cards: a discount off face value or a service fee."""

    class Mode(models.TextChoices):
        DISCOUNT = "discount", _("Discount off face value")
        FEE = "fee", _("Service fee on face value")

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="pricing")
    mode = models.CharField(_("pricing"), max_length=16, choices=Mode.choices)
    rate = models.DecimalField(
        _("rate (%)"),
        max_digits=5,
        decimal_places=2,
        help_text=_("Percent of face value, for example 2.50 for 2.5%."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("company pricing")
        verbose_name_plural = _("company pricing")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lt=100), name="pricing_rate_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.get_mode_display()} {self.rate}%"


class CreditLine(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    company = models.OneToOneField(Company, on_delete=models.PROTECT, related_name="credit_line")
    limit = models.DecimalField(_("credit limit"), max_digits=14, decimal_places=2)
    net_days = models.PositiveSmallIntegerField(_("net days"), default=30)
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("credit line")
        verbose_name_plural = _("credit lines")
        constraints = [
            models.CheckConstraint(condition=models.Q(limit__gte=0), name="credit_limit_gte_0"),
            models.CheckConstraint(
                condition=models.Q(net_days__gte=1, net_days__lte=180),
                name="credit_net_days_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.limit}"


class CreditReservation(models.Model):
    """Credit held for an order that is approved but not yet invoiced (it waits for a further
    approval step). Released when the invoice is issued or the order stops."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(_("reference"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("credit reservation")
        verbose_name_plural = _("credit reservations")
        constraints = [
            models.UniqueConstraint(
                fields=["company", "reference"],
                condition=models.Q(released_at__isnull=True),
                name="credit_reservation_one_open",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="reservation_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.amount}"


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
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="invoices")
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
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

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
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    description = models.CharField(_("description"), max_length=200)
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
        return self.description
