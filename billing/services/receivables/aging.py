"""Aging: open sale-invoice balances as of a date, by company and days past due, and its export."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Allocation, Invoice
from billing.money import ZERO
from portal import days
from portal.exports import CsvWriter, XlsxWriter
from portal.models import Company

BUCKETS: tuple[tuple[str, Any], ...] = (
    ("current", gettext_lazy("Current")),
    ("d1_30", gettext_lazy("1-30 days")),
    ("d31_60", gettext_lazy("31-60 days")),
    ("d61_90", gettext_lazy("61-90 days")),
    ("over_90", gettext_lazy("Over 90 days")),
)
BUCKET_KEYS = tuple(key for key, _label in BUCKETS)


def aging_bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "d1_30"
    if days_past_due <= 60:
        return "d31_60"
    if days_past_due <= 90:
        return "d61_90"
    return "over_90"


def _empty_buckets() -> dict[str, Decimal]:
    return dict.fromkeys(BUCKET_KEYS, ZERO)


@dataclass(frozen=True)
class AgingItem:
    number: str
    public_id: str
    order_number: str
    issue_date: datetime.date
    due_date: datetime.date | None
    total: Decimal
    balance: Decimal
    days_past_due: int
    bucket: str


@dataclass
class AgingRow:
    company_id: int
    company_name: str
    credit_code: str
    buckets: dict[str, Decimal] = field(default_factory=_empty_buckets)
    items: list[AgingItem] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def bucket_list(self) -> list[Decimal]:
        return [self.buckets[key] for key in BUCKET_KEYS]


@dataclass
class AgingReport:
    as_of: datetime.date
    rows: list[AgingRow]
    totals: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)

    @property
    def total_list(self) -> list[Decimal]:
        return [self.totals[key] for key in BUCKET_KEYS]

    def row_for(self, company: Company) -> AgingRow | None:
        return next((row for row in self.rows if row.company_id == company.pk), None)

    def buckets_for(self, company: Company) -> dict[str, Decimal]:
        row = self.row_for(company)
        return dict(row.buckets) if row is not None else _empty_buckets()


def day_end(day: datetime.date) -> datetime.datetime:
    """The first instant after ``day`` in Asia/Shanghai."""
    return days.day_end(day)


def _allocated(*, before: datetime.datetime | None) -> Coalesce:
    allocations = Allocation.objects.filter(invoice=OuterRef("pk"))
    if before is not None:
        allocations = allocations.filter(created_at__lt=before)
    total = allocations.order_by().values("invoice").annotate(s=Sum("amount")).values("s")
    return Coalesce(
        Subquery(total, output_field=DecimalField(max_digits=14, decimal_places=2)),
        Value(ZERO),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )


def aging_report(*, as_of: datetime.date, company: Company | None = None) -> AgingReport:
    """Open sale-invoice balances as of the end of ``as_of`` (Asia/Shanghai), by company and
    days past due. What was paid at issue (a pro-forma's transfer) counts as paid from the issue
    date; allocations count from the moment they were made; an invoice voided by a credit note
    dated after ``as_of`` was still owed on it."""
    money = DecimalField(max_digits=14, decimal_places=2)
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE, issue_date__lte=as_of).exclude(
        Q(status=Invoice.Status.VOID)
        & (Q(credit_note__isnull=True) | Q(credit_note__issue_date__lte=as_of))
    )
    if company is not None:
        invoices = invoices.filter(company=company)
    invoices = (
        invoices.annotate(
            allocated_ever=_allocated(before=None),
            allocated_then=_allocated(before=day_end(as_of)),
        )
        .annotate(
            balance_then=ExpressionWrapper(
                F("total") - (F("paid_amount") - F("allocated_ever") + F("allocated_then")),
                output_field=money,
            )
        )
        .filter(balance_then__gt=0)
        .select_related("company")
        .order_by("company__legal_name", "company_id", "due_date", "id")
    )
    rows: dict[int, AgingRow] = {}
    totals = _empty_buckets()
    for invoice in invoices:
        balance: Decimal = invoice.balance_then
        days = (as_of - invoice.due_date).days if invoice.due_date else 0
        bucket = aging_bucket(days)
        row = rows.get(invoice.company_id)
        if row is None:
            row = rows[invoice.company_id] = AgingRow(
                company_id=invoice.company_id,
                company_name=invoice.company.legal_name,
                credit_code=invoice.company.credit_code,
            )
        row.buckets[bucket] += balance
        totals[bucket] += balance
        row.items.append(
            AgingItem(
                number=invoice.number,
                public_id=str(invoice.public_id),
                order_number=invoice.order_number,
                issue_date=invoice.issue_date,
                due_date=invoice.due_date,
                total=invoice.total,
                balance=balance,
                days_past_due=max(days, 0),
                bucket=bucket,
            )
        )
    return AgingReport(as_of=as_of, rows=list(rows.values()), totals=totals)


def bucket_label(key: str) -> str:
    return str(dict(BUCKETS)[key])


def _aging_table(report: AgingReport, *, detail: bool) -> tuple[list[str], list[list[Any]]]:
    labels = [bucket_label(key) for key in BUCKET_KEYS]
    if not detail:
        header = [_("Company"), _("Unified social credit code"), *labels, _("Total")]
        rows: list[list[Any]] = [
            [row.company_name, row.credit_code, *row.bucket_list, row.total] for row in report.rows
        ]
        rows.append([_("Total"), "", *report.total_list, report.total])
        return header, rows
    header = [
        _("Company"),
        _("Invoice"),
        _("Order"),
        _("Issue date"),
        _("Due date"),
        _("Days past due"),
        _("Aging bucket"),
        _("Balance due"),
    ]
    rows = [
        [
            row.company_name,
            item.number,
            item.order_number,
            item.issue_date,
            item.due_date,
            item.days_past_due,
            bucket_label(item.bucket),
            item.balance,
        ]
        for row in report.rows
        for item in row.items
    ]
    return header, rows


def aging_export(report: AgingReport, *, fmt: str, detail: bool) -> bytes:
    """The report as CSV (UTF-8 with BOM) or XLSX, formula-like text neutralised. ``detail``:
    one line per invoice; otherwise one line per company and a total."""
    header, rows = _aging_table(report, detail=detail)
    buffer = io.BytesIO()
    if fmt == "xlsx":
        title = _("Aging %(date)s") % {"date": report.as_of.isoformat()}
        xlsx = XlsxWriter(buffer, title, header)
        xlsx.writerows(rows)
        xlsx.close()
    else:
        writer = CsvWriter(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        writer.close()
    return buffer.getvalue()
