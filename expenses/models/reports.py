"""Expense reports a buyer's finance team uploads (a file, or JSON lines through the API), their
claim lines, and what each line was matched to."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models import Card, CardTransaction
from expenses.models.periods import ReconciliationPeriod
from portal.models import ApiKey, Company


class ReportStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    CHECKING = "checking", _("Checking")
    INVALID = "invalid", _("Has errors")
    FAILED = "failed", _("Could not be read")
    MATCHING = "matching", _("Matching")
    MATCHED = "matched", pgettext_lazy("expense report status", "Matched")
    DISCARDED = "discarded", _("Discarded")


class ReportSource(models.TextChoices):
    FILE = "file", _("File")
    API = "api", _("API (JSON lines)")


class LineState(models.TextChoices):
    """Where each claim line ends after matching: exactly one of these."""

    PENDING = "pending", _("Not matched yet")
    MATCHED = "matched", pgettext_lazy("claim line state", "Matched")
    AMOUNT_DIFFERS = "amount_differs", _("Amount differs")
    OTHER_EMPLOYEE = "other_employee", _("Other employee's card")
    DUPLICATE = "duplicate", _("Duplicate claim")
    UNKNOWN = "unknown", _("Unknown card or reference")
    NO_SPEND = "no_spend", _("No spend found")


# The states finance must look at: every state but matched (and pending, before matching).
EXCEPTION_STATES = (
    LineState.AMOUNT_DIFFERS,
    LineState.OTHER_EMPLOYEE,
    LineState.DUPLICATE,
    LineState.UNKNOWN,
    LineState.NO_SPEND,
)


class Evidence(models.TextChoices):
    """The strongest evidence a line was matched (or found wanting) by."""

    NONE = "", _("None")
    REFERENCE = "reference", _("Merchant order reference")
    SERIAL = "serial", _("Card serial")
    LAST4 = "last4", _("Last 4 of a card of the employee")
    EMPLOYEE = "employee", _("A card of the employee, amount and date")
    FAPIAO = "fapiao", _("Fapiao number")
    MANUAL = "manual", _("Linked by hand")


class Resolution(models.TextChoices):
    NONE = "", _("Open")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


def _report_path(instance: ExpenseReport, filename: str) -> str:
    # The stored name is ours, never the buyer's.
    return f"expense-reports/{instance.company_id}/{instance.public_id}"


class ExpenseReport(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="expense_reports", verbose_name=_("company")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_via_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(
        _("source"), max_length=8, choices=ReportSource.choices, default=ReportSource.FILE
    )
    # The API's Idempotency-Key: the same key replays the same report (unique per company).
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    request_digest = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to=_report_path, max_length=200, blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    file_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    file_format = models.CharField(_("format"), max_length=8, blank=True)  # csv / xlsx / json
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ReportStatus.choices, default=ReportStatus.RECEIVED
    )
    # Progress of the current stage (checking, then matching): rows done of rows in the report.
    rows_total = models.PositiveIntegerField(_("lines"), default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # The check's errors (row, column, value, reason; capped), the match's counts per state.
    result = models.JSONField(default=dict, blank=True)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    failure = models.CharField(_("reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    matched_at = models.DateTimeField(_("matched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("expense report")
        verbose_name_plural = _("expense reports")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="expreport_company_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="expreport_idempotency_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.file_name or str(self.public_id)

    @property
    def finished(self) -> bool:
        return self.status not in (
            ReportStatus.RECEIVED,
            ReportStatus.CHECKING,
            ReportStatus.MATCHING,
        )


class ExpenseLine(models.Model):
    """One claim line of an expense report, as the expense system exported it, and where
    matching (then finance) left it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of their own: the composite indexes below lead with them.
    report = models.ForeignKey(
        ExpenseReport,
        on_delete=models.CASCADE,
        related_name="lines",
        verbose_name=_("report"),
        db_index=False,
    )
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", db_index=False)
    period = models.ForeignKey(
        ReconciliationPeriod,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("period"),
    )
    row_number = models.PositiveIntegerField(_("row"))  # in the file, the header being row 1
    report_number = models.CharField(_("report number"), max_length=64)
    line_number = models.CharField(_("line number"), max_length=32)
    employee_id = models.CharField(_("employee ID"), max_length=64)
    employee_name = models.CharField(_("employee name"), max_length=100, blank=True)
    expense_date = models.DateField(_("expense date"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    merchant_name = models.CharField(_("merchant"), max_length=200, blank=True)
    merchant_reference = models.CharField(_("merchant order reference"), max_length=64, blank=True)
    card_serial = models.CharField(_("card serial"), max_length=16, blank=True)
    card_last4 = models.CharField(_("card last 4"), max_length=4, blank=True)
    cost_center = models.CharField(_("cost center"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    fapiao_number = models.CharField(_("fapiao number"), max_length=32, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)

    # Matching's answer.
    state = models.CharField(
        _("result"), max_length=16, choices=LineState.choices, default=LineState.PENDING
    )
    evidence = models.CharField(
        _("evidence"), max_length=16, choices=Evidence.choices, default="", blank=True
    )
    card = models.ForeignKey(
        Card, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The sum of the spend matched to this line, and the claim minus it.
    matched_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    difference = models.DecimalField(_("difference"), max_digits=14, decimal_places=2, default=0)
    # The earlier claim this one repeats (same spend or same fapiao).
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )

    # Finance's answer (audited).
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=Resolution.choices, default="", blank=True
    )
    resolution_note = models.CharField(_("note"), max_length=500, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("claim line")
        verbose_name_plural = _("claim lines")
        ordering = ["report_id", "row_number"]
        indexes = [
            models.Index(fields=["company", "period", "state"], name="expline_company_period"),
            models.Index(fields=["company", "fapiao_number"], name="expline_company_fapiao"),
            models.Index(fields=["company", "merchant_reference"], name="expline_company_ref"),
            # Most lines repeat no one and are resolved by no one: only those that do are indexed
            # (what a deleted line or user is looked up by).
            models.Index(
                fields=["duplicate_of"],
                name="expline_duplicate_of",
                condition=models.Q(duplicate_of__isnull=False),
            ),
            models.Index(
                fields=["resolved_by"],
                name="expline_resolved_by",
                condition=models.Q(resolved_by__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["report", "row_number"], name="expline_report_row"),
        ]

    def __str__(self) -> str:
        return f"{self.report_number}/{self.line_number}"


class ExpenseMatch(models.Model):
    """A claim line backed by (part of) one card transaction. Several lines may share one
    redemption (a split claim) and one line may take several redemptions of the same employee
    and day; ``amount`` is the part of the transaction this line claims."""

    # Looked up by the (line, transaction) unique index, which leads with the line.
    line = models.ForeignKey(
        ExpenseLine, on_delete=models.CASCADE, related_name="matches", db_index=False
    )
    transaction = models.ForeignKey(
        CardTransaction, on_delete=models.PROTECT, related_name="+", verbose_name=_("transaction")
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    manual = models.BooleanField(_("linked by hand"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("match")
        verbose_name_plural = _("matches")
        constraints = [
            models.UniqueConstraint(fields=["line", "transaction"], name="expmatch_line_tx"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} ← {self.transaction_id}"
