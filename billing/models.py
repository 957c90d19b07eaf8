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

from billing import line_text
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


# --- Payments ------------------------------------------------------------------------------------


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
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
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
    )
    allocated_amount = models.DecimalField(
        _("allocated"), max_digits=14, decimal_places=2, default=ZERO
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.UNMATCHED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
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
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations"
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations"
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
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
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


# --- Receivables ---------------------------------------------------------------------------------


class InvoiceReminder(models.Model):
    """A reminder sent for an invoice; the unique pair makes each reminder go out once."""

    class Kind(models.TextChoices):
        BEFORE_DUE = "before_due", _("7 days before due")
        ON_DUE = "on_due", _("On the due date")
        AFTER_7 = "after_7", _("7 days overdue")
        AFTER_30 = "after_30", _("30 days overdue")

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="reminders")
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

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="credit_holds")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
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


# --- Statements ----------------------------------------------------------------------------------


def _statement_path(instance: StatementFile, filename: str) -> str:
    statement = instance.statement
    return f"statements/{statement.company_id}/{statement.public_id}/{filename}"


class Statement(models.Model):
    """A company's statement of account for a period (dates inclusive, Asia/Shanghai days).
    Issued once and never changed: a re-issue is a new version. The unique constraint gives one
    statement per company, period and version however many schedulers or retries run."""

    class Status(models.TextChoices):
        BUILDING = "building", _("Being prepared")
        ISSUED = "issued", _("Issued")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        ON_DEMAND = "on_demand", _("On demand")
        REISSUE = "reissue", _("Re-issue")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="statements")
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
    failure = models.CharField(_("reason"), max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)

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
