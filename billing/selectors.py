"""Reads of invoices and credit that the portal pages, PDFs and the API share.

The reads of documents take a queryset the caller has already scoped to one company (the portal's
``company_objects``), so a selector can never reach another company's documents.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from billing.dues import open_sale_invoices, past_grace, pay_by
from billing.models import CreditLine, Invoice, InvoiceLine, Statement
from billing.money import ZERO, format_cny
from billing.services.credit import CreditPosition
from portal.charts import Part, StackedBar, stacked_bar

TAX_CATEGORY_LABELS: dict[str, Promise] = {
    Invoice.TAX_CATEGORY: _("Non-taxable prepaid card sale"),
}


@dataclass(frozen=True)
class Seller:
    legal_name: str
    credit_code: str
    bank_name: str
    bank_account_name: str
    bank_account: str


def platform_seller() -> Seller:
    return Seller(
        legal_name=settings.PLATFORM_LEGAL_NAME,
        credit_code=settings.PLATFORM_CREDIT_CODE,
        bank_name=settings.PLATFORM_BANK_NAME,
        bank_account_name=settings.PLATFORM_BANK_ACCOUNT_NAME,
        bank_account=settings.PLATFORM_BANK_ACCOUNT,
    )


def invoice_filter(
    invoices: QuerySet[Invoice], *, kind: str = "", status: str = "", search: str = ""
) -> QuerySet[Invoice]:
    """Invoices of one kind and status, whose number or order number contains ``search``.
    Unknown kinds and statuses are ignored rather than matching nothing."""
    if kind in Invoice.Kind.values:
        invoices = invoices.filter(kind=kind)
    if status in Invoice.Status.values:
        invoices = invoices.filter(status=status)
    search = search.strip()
    if search:
        invoices = invoices.filter(Q(number__icontains=search) | Q(order_number__icontains=search))
    return invoices.order_by("-issue_date", "-id")


def open_invoices(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Sale invoices with a balance still to pay, the earliest due first."""
    return open_sale_invoices(invoices).order_by("due_date", "id")


def open_invoice_balance(invoices: QuerySet[Invoice]) -> Decimal:
    total = open_invoices(invoices).aggregate(total=Sum(F("total") - F("paid_amount")))["total"]
    return total if total is not None else ZERO


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice page or PDF shows, worked out once for both."""

    invoice: Invoice
    seller: Seller
    lines: list[InvoiceLine]
    tax_category: str
    # Positive: a discount off face value; negative: a service fee on top of it.
    adjustment: Decimal
    credit_note: Invoice | None
    credited_invoice: Invoice | None
    related: list[Invoice] = field(default_factory=list)

    @property
    def is_void(self) -> bool:
        return self.invoice.status == Invoice.Status.VOID

    @property
    def discount(self) -> Decimal:
        return max(self.adjustment, ZERO)

    @property
    def fee(self) -> Decimal:
        return max(-self.adjustment, ZERO)

    @property
    def amount_to_transfer(self) -> Decimal:
        """What a pro-forma invoice still asks the buyer to pay."""
        return proforma_amount_to_transfer(self.invoice)


def proforma_amount_to_transfer(invoice: Invoice) -> Decimal:
    """What a pro-forma invoice still asks the buyer to pay: nothing unless it is open."""
    if invoice.kind != Invoice.Kind.PROFORMA or invoice.status != Invoice.Status.OPEN:
        return ZERO
    return invoice.total - invoice.paid_amount


@dataclass(frozen=True)
class TransferInstructions:
    """Where and how to pay an open pro-forma invoice: what its PDF says, for the order page."""

    seller: Seller
    reference: str
    amount: Decimal
    pay_by: datetime.date | None


def proforma_transfer_instructions(invoice: Invoice | None) -> TransferInstructions | None:
    """The bank account, payment reference and amount an open pro-forma asks the buyer to use,
    read where the pro-forma PDF reads them (``platform_seller``, the invoice's reference,
    ``proforma_amount_to_transfer``); None when nothing is to be transferred."""
    if invoice is None or not invoice.payment_reference:
        return None
    amount = proforma_amount_to_transfer(invoice)
    if amount <= ZERO:
        return None
    return TransferInstructions(
        seller=platform_seller(),
        reference=invoice.payment_reference,
        amount=amount,
        pay_by=invoice.due_date,
    )


def invoice_document(invoice: Invoice, *, documents: QuerySet[Invoice]) -> InvoiceDocument:
    """The document view of ``invoice``; ``documents`` are its company's invoices, where the
    other documents of the same order (pro-forma, invoice, credit note) are looked up."""
    credit_note = documents.filter(credited_invoice=invoice).first()
    credited = (
        documents.filter(pk=invoice.credited_invoice_id).first()
        if invoice.credited_invoice_id
        else None
    )
    related = list(
        documents.filter(order_number=invoice.order_number)
        .exclude(pk=invoice.pk)
        .order_by("issue_date", "id")
    )
    return InvoiceDocument(
        invoice=invoice,
        seller=platform_seller(),
        lines=list(invoice.lines.all()),
        tax_category=str(TAX_CATEGORY_LABELS.get(invoice.tax_category, invoice.tax_category)),
        adjustment=invoice.discount_total,
        credit_note=credit_note,
        credited_invoice=credited,
        related=related,
    )


@dataclass(frozen=True)
class OpenInvoice:
    invoice: Invoice
    days_past_due: int
    # Past due and past the grace period: new credit orders wait until it is paid.
    blocks_credit: bool
    # The last day it can be paid before credit orders are held.
    pay_by: datetime.date | None


def credit_open_invoices(
    invoices: QuerySet[Invoice],
    position: CreditPosition,
    *,
    today: datetime.date | None = None,
) -> list[OpenInvoice]:
    today = today or timezone.localdate()
    result = []
    for invoice in open_invoices(invoices):
        days = (today - invoice.due_date).days if invoice.due_date else 0
        result.append(
            OpenInvoice(
                invoice=invoice,
                days_past_due=max(days, 0),
                blocks_credit=past_grace(
                    invoice.due_date, today=today, grace_days=position.grace_days
                ),
                pay_by=pay_by(invoice.due_date, position.grace_days) if invoice.due_date else None,
            )
        )
    return result


def credit_status_label(status: str) -> str:
    try:
        return str(CreditLine.Status(status).label)
    except ValueError:
        return status


# --- what a company's finance desk looks at first (the dashboard) -------------------------------

DUE_SOON_DAYS = 14


@dataclass(frozen=True)
class DueInvoice:
    invoice: Invoice
    days: int  # until its due date (due soon), or past it (overdue)


def invoices_due_soon(
    invoices: QuerySet[Invoice],
    *,
    today: datetime.date,
    within: int = DUE_SOON_DAYS,
    limit: int | None = None,
) -> list[DueInvoice]:
    """Open sale invoices due from today to ``within`` days ahead, the earliest due first (the
    first ``limit`` of them)."""
    due = open_invoices(invoices).filter(
        due_date__gte=today, due_date__lte=today + datetime.timedelta(days=within)
    )
    return [
        DueInvoice(invoice, (invoice.due_date - today).days)
        for invoice in due[:limit]
        if invoice.due_date
    ]


def _overdue(invoices: QuerySet[Invoice], today: datetime.date) -> QuerySet[Invoice]:
    return open_invoices(invoices).filter(due_date__lt=today)


def invoices_overdue(
    invoices: QuerySet[Invoice], *, today: datetime.date, limit: int | None = None
) -> list[DueInvoice]:
    """Open sale invoices past their due date, the longest overdue first (the first ``limit``
    of them)."""
    return [
        DueInvoice(invoice, (today - invoice.due_date).days)
        for invoice in _overdue(invoices, today)[:limit]
        if invoice.due_date
    ]


def overdue_balance(invoices: QuerySet[Invoice], *, today: datetime.date) -> Decimal:
    """What is still owed on the invoices past their due date."""
    total = _overdue(invoices, today).aggregate(total=Sum(F("total") - F("paid_amount")))["total"]
    return total if total is not None else ZERO


def last_statement(statements: QuerySet[Statement]) -> Statement | None:
    """The issued statement of the latest period (its latest version), with its files."""
    return (
        statements.filter(status=Statement.Status.ISSUED)
        .prefetch_related("files")
        .order_by("-period_end", "-version", "-id")
        .first()
    )


def credit_use_chart(position: CreditPosition) -> StackedBar:
    """The credit limit as used by unpaid invoices, reserved for approved orders, available."""
    parts = [
        Part(
            "used",
            str(_("Used by unpaid invoices")),
            position.unpaid,
            format_cny(position.unpaid),
            "solid",
        ),
        Part(
            "reserved",
            str(_("Reserved for approved orders")),
            position.reserved,
            format_cny(position.reserved),
            "stripes",
        ),
        Part(
            "available",
            str(_("Available")),
            position.available,
            format_cny(position.available),
            "light",
        ),
    ]
    return stacked_bar(parts, key="credit-use", title=str(_("Credit use")), total_text="")


# Lighter to darker as the balance ages.
AGING_PATTERNS = {
    "current": "light",
    "d1_30": "dots",
    "d31_60": "stripes",
    "d61_90": "cross",
    "over_90": "solid",
}


def aging_chart(buckets: list[tuple[str, str, Decimal]], *, key: str = "aging") -> StackedBar:
    """The open balance split by aging bucket (``(key, label, amount)`` in the buckets' order)."""
    parts = [
        Part(name, label, amount, format_cny(amount), AGING_PATTERNS.get(name, ""))
        for name, label, amount in buckets
    ]
    total = sum((amount for _name, _label, amount in buckets), ZERO)
    return stacked_bar(
        parts,
        key=key,
        title=str(_("Unpaid balance by days past due")),
        total_text=format_cny(total),
    )
