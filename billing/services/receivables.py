"""Receivables: overdue marking, reminders, credit holds, aging and the nightly ledger check.

Daily (``receivables_daily``, a Celery beat task at 06:00 Asia/Shanghai), company by company, each
in its own short transaction:

- open sale invoices whose due date has passed become ``overdue``;
- reminders go out 7 days before the due date, on it, and 7 and 30 days after it. Each is decided
  by inserting its ``InvoiceReminder`` row (unique per invoice and kind) in the transaction that
  queues the email on commit, so a second run, a second beat or a retried task sends nothing
  again. A missed day catches up: the latest stage whose day has passed is sent once, and the
  earlier stages it covers are recorded with it (nobody wants three letters the same morning).
  The "before due" reminder is never sent on or after the due date;
- a company with an invoice past its due date plus the grace days of its credit line gets a
  ``CreditHold`` (new credit orders are refused while it is open); the hold is lifted when nothing
  is past due + grace any more. Payments lift it at once: ``credit_hold_refresh`` runs after every
  allocation.

Locks: the daily run takes a transaction-level advisory lock per company (two beats never work on
the same company at once), then the company's invoices in primary-key order, then the hold row,
the same order the payment services use (invoices, then ``credit_hold_refresh``). The hold itself
is decided by its partial unique index (one open hold per company), never by a look-up alone.

Aging (``aging_report``) works from invoice balances *as of* a date: invoices issued on or before
it, less what was allocated to them by the end of that day in Asia/Shanghai; so a statement for
a past period shows what was owed then, not what is owed today.
"""

from __future__ import annotations

import datetime
import io
import logging
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import locks
from billing.audit import BillingAction
from billing.invariants import LABELS, registered_invariants
from billing.models import (
    Account,
    Allocation,
    CreditHold,
    CreditLine,
    Invoice,
    InvoiceReminder,
    LedgerCheck,
    Posting,
)
from billing.money import ZERO, format_cny
from billing.services.invoices import invoice_move
from portal.exports import CsvWriter, XlsxWriter
from portal.models import Company, Membership, Role, User
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

logger = logging.getLogger(__name__)

OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)
# Days from the due date on which each reminder is due, in the order they go out.
REMINDER_DAYS: dict[str, int] = {
    InvoiceReminder.Kind.BEFORE_DUE: -7,
    InvoiceReminder.Kind.ON_DUE: 0,
    InvoiceReminder.Kind.AFTER_7: 7,
    InvoiceReminder.Kind.AFTER_30: 30,
}
# Advisory lock namespace of the daily run ("RECV"); the second key is the company id.
_LOCK_NAMESPACE = 0x52454356


# --- Helpers ------------------------------------------------------------------------------------


def bilingual(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body in Chinese, then English (as every message of the portal)."""
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"emails/{template}.txt", context))
            subjects.append(render_to_string(f"emails/{template}_subject.txt", context).strip())
    return " / ".join(subjects), "\n\n----\n\n".join(bodies)


def finance_contacts(company: Company) -> list[str]:
    """Who hears about the company's invoices: its finance members (its owners when it has
    none) and its billing address."""
    members = Membership.objects.filter(company=company, user__is_active=True).select_related(
        "user"
    )
    emails = {m.user.email for m in members if m.role == Role.FINANCE and m.user.email}
    if not emails:
        emails = {m.user.email for m in members if m.role == Role.OWNER and m.user.email}
    if company.billing_email:
        emails.add(company.billing_email)
    return sorted(emails)


def operator_contacts() -> list[str]:
    """The issuer's operators (active staff) and settings.ADMINS."""
    emails = set(
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    for admin in getattr(settings, "ADMINS", []):
        emails.add(admin[1] if isinstance(admin, (list, tuple)) else str(admin))
    return sorted(emails)


def _grace_days(company: Company) -> int:
    line = CreditLine.objects.filter(company=company).only("grace_days").first()
    return line.grace_days if line is not None else 0


def _lock_company(company_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, company_id])


def open_sale_invoices() -> QuerySet[Invoice]:
    return Invoice.objects.filter(
        kind=Invoice.Kind.INVOICE, status__in=OPEN_STATUSES, due_date__isnull=False
    )


def reminder_kinds_due(due_date: datetime.date, today: datetime.date) -> list[str]:
    """The reminders whose day has come for an unpaid invoice due on ``due_date``: "before due"
    only before the due date, the others from their day on."""
    days = (today - due_date).days
    kinds = [kind for kind, offset in REMINDER_DAYS.items() if days >= offset]
    if days >= 0 and InvoiceReminder.Kind.BEFORE_DUE in kinds:
        kinds.remove(InvoiceReminder.Kind.BEFORE_DUE)
    return kinds


# --- Credit holds -------------------------------------------------------------------------------


def _blocking_invoice(company: Company, today: datetime.date) -> Invoice | None:
    cutoff = today - datetime.timedelta(days=_grace_days(company))
    return (
        open_sale_invoices()
        .filter(company=company, due_date__lt=cutoff)
        .order_by("due_date", "id")
        .first()
    )


def _hold_refresh(company: Company, today: datetime.date, actor: User | None) -> str | None:
    blocking = _blocking_invoice(company, today)
    hold = (
        CreditHold.objects.select_for_update()
        .filter(company=company, lifted_at__isnull=True)
        .first()
    )
    if blocking is not None and hold is None:
        try:
            with transaction.atomic():
                hold = CreditHold.objects.create(company=company, invoice=blocking)
        except IntegrityError:
            return None  # placed at the same moment by another run
        audit_record(
            action=BillingAction.CREDIT_HOLD_PLACED,
            actor=actor,
            company=company,
            obj=hold,
            changes={"invoice": blocking.number, "due_date": str(blocking.due_date)},
        )
        _queue_hold_notice(hold.pk, "placed")
        return "placed"
    if blocking is None and hold is not None:
        lifted = CreditHold.objects.filter(pk=hold.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now()
        )
        if not lifted:
            return None
        audit_record(
            action=BillingAction.CREDIT_HOLD_LIFTED,
            actor=actor,
            company=company,
            obj=hold,
            changes={"invoice": hold.invoice.number},
        )
        _queue_hold_notice(hold.pk, "lifted")
        return "lifted"
    if blocking is not None and hold is not None and hold.invoice_id != blocking.pk:
        # The invoice that caused the hold is paid, another one keeps it: name that one.
        CreditHold.objects.filter(pk=hold.pk).update(invoice=blocking)
    return None


def _queue_hold_notice(hold_id: int, event: str) -> None:
    from billing.tasks_receivables import credit_hold_notify

    outbox_enqueue(credit_hold_notify, hold_id, event)


@transaction.atomic
def credit_hold_refresh(
    *, company: Company, today: datetime.date | None = None, actor: User | None = None
) -> str | None:
    """Place or lift the company's credit hold now; "placed", "lifted" or None (no change).
    The payment services call it after every allocation, so a payment lifts the hold at once."""
    return _hold_refresh(company, today or timezone.localdate(), actor)


def credit_hold_open(company: Company) -> CreditHold | None:
    return (
        CreditHold.objects.filter(company=company, lifted_at__isnull=True)
        .select_related("invoice")
        .first()
    )


# --- The daily run ------------------------------------------------------------------------------


@dataclass
class DailySummary:
    today: datetime.date
    companies: int = 0
    marked_overdue: int = 0
    reminders: int = 0
    holds_placed: int = 0
    holds_lifted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "companies": self.companies,
            "marked_overdue": self.marked_overdue,
            "reminders": self.reminders,
            "holds_placed": self.holds_placed,
            "holds_lifted": self.holds_lifted,
        }


def _send_reminders(company: Company, today: datetime.date) -> int:
    """Under the company's advisory lock: record and queue the reminders due today."""
    sent = 0
    horizon = today - datetime.timedelta(days=REMINDER_DAYS[InvoiceReminder.Kind.BEFORE_DUE])
    invoices = open_sale_invoices().filter(company=company, due_date__lte=horizon).order_by("id")
    for invoice in invoices:
        assert invoice.due_date is not None
        due = reminder_kinds_due(invoice.due_date, today)
        if not due:
            continue
        done = set(invoice.reminders.values_list("kind", flat=True))
        missing = [kind for kind in due if kind not in done]
        if not missing:
            continue
        latest = missing[-1]
        try:
            with transaction.atomic():
                reminder = InvoiceReminder.objects.create(invoice=invoice, kind=latest)
                InvoiceReminder.objects.bulk_create(
                    [InvoiceReminder(invoice=invoice, kind=kind) for kind in missing[:-1]],
                    ignore_conflicts=True,
                )
        except IntegrityError:
            continue  # another run recorded it first: that run sends it
        from billing.tasks_receivables import invoice_reminder_send

        outbox_enqueue(invoice_reminder_send, reminder.pk)
        sent += 1
    return sent


def receivables_company_daily(*, company_id: int, today: datetime.date) -> DailySummary:
    """One company's daily work, in one short transaction."""
    summary = DailySummary(today=today, companies=1)
    with transaction.atomic():
        _lock_company(company_id)
        company = Company.objects.get(pk=company_id)
        due = Invoice.objects.filter(
            company=company,
            kind=Invoice.Kind.INVOICE,
            status=Invoice.Status.OPEN,
            due_date__lt=today,
        ).values_list("pk", flat=True)
        for invoice in locks.lock_invoices(due).values():
            if invoice.status == Invoice.Status.OPEN:  # re-checked under the lock
                invoice_move(invoice, Invoice.Status.OVERDUE)
                summary.marked_overdue += 1
        summary.reminders = _send_reminders(company, today)
        change = _hold_refresh(company, today, None)
        summary.holds_placed = int(change == "placed")
        summary.holds_lifted = int(change == "lifted")
    return summary


def receivables_daily(*, today: datetime.date | None = None) -> DailySummary:
    """Mark overdue invoices, send reminders, place and lift credit holds; safe to run twice in
    a day or from two schedulers at once."""
    today = today or timezone.localdate()
    total = DailySummary(today=today)
    company_ids = set(open_sale_invoices().values_list("company_id", flat=True).distinct())
    company_ids |= set(
        CreditHold.objects.filter(lifted_at__isnull=True).values_list("company_id", flat=True)
    )
    for company_id in sorted(company_ids):
        try:
            part = receivables_company_daily(company_id=company_id, today=today)
        except Exception:
            # One company's failure must not stop the others; the next run retries it.
            logger.exception("receivables: daily run failed for company %s", company_id)
            continue
        total.companies += 1
        total.marked_overdue += part.marked_overdue
        total.reminders += part.reminders
        total.holds_placed += part.holds_placed
        total.holds_lifted += part.holds_lifted
    logger.info("receivables daily %s", total.as_dict())
    return total


# --- Aging --------------------------------------------------------------------------------------

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
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, zone)


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


# --- The nightly ledger check -------------------------------------------------------------------


def _check_ledger_balanced() -> dict[str, Any]:
    total = Posting.objects.aggregate(total=Sum("amount"))["total"] or ZERO
    unbalanced = list(
        Posting.objects.values("entry_id")
        .annotate(s=Sum("amount"))
        .exclude(s=0)
        .order_by("entry_id")
        .values_list("entry_id", flat=True)[:20]
    )
    return {
        "ok": total == ZERO and not unbalanced,
        "expected": str(ZERO),
        "actual": str(total),
        "unbalanced_entries": unbalanced,
    }


def _check_receivables() -> dict[str, Any]:
    ledger = dict(
        Posting.objects.filter(account__kind=Account.Kind.RECEIVABLE)
        .values("account__company_id")
        .annotate(s=Sum("amount"))
        .values_list("account__company_id", "s")
    )
    invoices = dict(
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
        .exclude(status=Invoice.Status.VOID)
        .values("company_id")
        .annotate(s=Sum(F("total") - F("paid_amount")))
        .values_list("company_id", "s")
    )
    drift: list[dict[str, Any]] = []
    for company_id in sorted(set(ledger) | set(invoices)):
        in_ledger = ledger.get(company_id) or ZERO
        in_invoices = invoices.get(company_id) or ZERO
        if in_ledger != in_invoices:
            drift.append(
                {
                    "company_id": company_id,
                    "receivable": str(in_ledger),
                    "open_invoices": str(in_invoices),
                }
            )
    names = dict(
        Company.objects.filter(pk__in=[d["company_id"] for d in drift[:20]]).values_list(
            "pk", "legal_name"
        )
    )
    for item in drift:
        item["company"] = names.get(item["company_id"], "")
    return {
        "ok": not drift,
        "expected": str(sum(invoices.values(), ZERO)),
        "actual": str(sum(ledger.values(), ZERO)),
        "companies_checked": len(set(ledger) | set(invoices)),
        "drift": drift[:20],
        "drift_count": len(drift),
    }


# The registered checks' labels too (same dict).
CHECK_LABELS: dict[str, Any] = LABELS
CHECK_LABELS.update(
    {
        "ledger_balanced": gettext_lazy("The ledger sums to zero"),
        "receivables_match_invoices": gettext_lazy(
            "Each company's receivable equals its open invoice balances"
        ),
    }
)


def ledger_check_run() -> LedgerCheck:
    """Recompute the money invariants (the ledger balances; receivables equal open invoice
    balances; whatever other apps registered, such as card liability = live card balances),
    store the result, and on drift log an error and email the operators."""
    checks: list[tuple[str, Any]] = [
        ("ledger_balanced", _check_ledger_balanced),
        ("receivables_match_invoices", _check_receivables),
        *registered_invariants(),
    ]
    results: dict[str, Any] = {}
    for name, check in checks:
        try:
            results[name] = check()
        except Exception as exc:
            logger.exception("ledger check %s could not run", name)
            results[name] = {"ok": False, "error": type(exc).__name__}
    ok = all(bool(result.get("ok")) for result in results.values())
    run = LedgerCheck.objects.create(ok=ok, results=results)
    if not ok:
        failing = sorted(name for name, result in results.items() if not result.get("ok"))
        logger.error("ledger check %s found drift: %s", run.pk, ", ".join(failing))
        ledger_alert_send(run)
    return run


def ledger_alert_send(run: LedgerCheck) -> int:
    """Email the operators about a failed check; the number of recipients."""
    from django.core.mail import send_mail
    from django.urls import reverse

    recipients = operator_contacts()
    if not recipients:
        logger.error("ledger check %s: no operator has an email address to alert", run.pk)
        return 0
    failing = [
        {"name": name, "label": CHECK_LABELS.get(name, name), **result}
        for name, result in sorted(run.results.items())
        if not result.get("ok")
    ]
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "admin:billing_ledgercheck_change", args=[run.pk]
    )
    subject, body = bilingual("ledger_drift", {"run": run, "failing": failing, "link": link})
    send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
    return len(recipients)


def reminder_context(reminder: InvoiceReminder) -> dict[str, Any]:
    from django.urls import reverse

    from billing.selectors import platform_seller

    invoice = reminder.invoice
    today = timezone.localdate()
    assert invoice.due_date is not None
    return {
        "reminder": reminder,
        "invoice": invoice,
        "company": invoice.company,
        "balance": format_cny(invoice.balance_due),
        "total": format_cny(invoice.total),
        "due_date": invoice.due_date.isoformat(),
        "days_to_due": (invoice.due_date - today).days,
        "days_past_due": (today - invoice.due_date).days,
        "seller": platform_seller(),
        "link": settings.PORTAL_BASE_URL.rstrip("/")
        + reverse("billing:invoice_detail", args=[invoice.number]),
    }
