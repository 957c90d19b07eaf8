"""What a statement says, collected from the ledger: opening and closing balances, the
activity with a running balance, counts, aging at the period end and card activity."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from billing.models import Account, Allocation, Invoice, Payment, Posting, Statement
from billing.money import ZERO
from billing.services.receivables import aging_report
from billing.services.statements.periods import period_bounds
from billing.statement_sections import card_activity_provider
from portal import days
from portal.models import Company

AGING_BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


def aging_labels() -> dict[str, str]:
    return {
        "current": _("Not yet due"),
        "1_30": _("1-30 days"),
        "31_60": _("31-60 days"),
        "61_90": _("61-90 days"),
        "over_90": _("Over 90 days"),
    }


@dataclass
class _Line:
    at: datetime.datetime
    kind: str
    label: str
    reference: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass
class _Content:
    statement: Statement
    company: Company
    start: datetime.datetime
    end: datetime.datetime
    opening: Decimal
    closing: Decimal
    lines: list[_Line]
    summary: dict[str, Any]


def _line_label(kind: str, amount: Decimal) -> str:
    if kind == "invoice_issued":
        return _("Invoice")
    if kind == "credit_note":
        return _("Credit note")
    return pgettext("statement line", "Payment") if amount < 0 else _("Reversal")


def _receivable_movements(
    company: Company, start: datetime.datetime, end: datetime.datetime
) -> tuple[Decimal, list[tuple[datetime.datetime, str, str, Decimal]]]:
    """The receivable balance before ``start`` and the postings of ``[start, end)``. Through the
    ORM, so that each backend binds the instants and reads them back in its own way (SQLite
    keeps naive UTC text: raw SQL compared its strings with ``+08:00`` ones and returned naive
    values)."""
    account = Account.objects.filter(kind=Account.Kind.RECEIVABLE, company=company).first()
    if account is None:
        return ZERO, []
    postings = Posting.objects.filter(account=account)
    opening = postings.filter(entry__created_at__lt=start).aggregate(total=Sum("amount"))["total"]
    movements = list(
        postings.filter(entry__created_at__gte=start, entry__created_at__lt=end)
        .order_by("entry__created_at", "entry_id")
        .values_list("entry__created_at", "entry__kind", "entry__reference", "amount")
    )
    return opening or ZERO, movements


def _aging(company: Company, as_of: datetime.date) -> dict[str, str]:
    """Open balances of the company's sale invoices as they stood at the end of ``as_of``, by
    days past due on that day: the receivables aging report, so a statement of an old period
    shows that period's aging, not today's."""
    buckets = aging_report(as_of=as_of, company=company).buckets_for(company)
    result = {name: str(buckets[_AGING_KEYS[name]]) for name in AGING_BUCKETS}
    result["total"] = str(sum((Decimal(result[name]) for name in AGING_BUCKETS), ZERO))
    return result


# Statement bucket names (kept in issued statements' summaries) → the aging report's.
_AGING_KEYS = {
    "current": "current",
    "1_30": "d1_30",
    "31_60": "d31_60",
    "61_90": "d61_90",
    "over_90": "over_90",
}


def statement_content(statement: Statement) -> _Content:
    """What the statement says (balances, activity, counts, aging, card sections), read from the
    ledger; the file writers in ``files`` lay it out."""
    company = statement.company
    start, end = period_bounds(statement.period_start, statement.period_end)
    opening, movements = _receivable_movements(company, start, end)
    balance = opening
    invoiced = credited = paid = ZERO
    lines = []
    for at, kind, reference, amount in movements:
        amount = Decimal(amount)
        balance += amount
        if kind == "invoice_issued":
            invoiced += amount
        elif kind == "credit_note":
            credited -= amount
        else:
            paid -= amount
        lines.append(
            _Line(
                at=days.local(at),
                kind=kind,
                label=_line_label(kind, amount),
                reference=reference,
                debit=amount if amount > 0 else ZERO,
                credit=-amount if amount < 0 else ZERO,
                balance=balance,
            )
        )
    documents = Invoice.objects.filter(
        company=company,
        issue_date__gte=statement.period_start,
        issue_date__lte=statement.period_end,
    ).aggregate(
        invoices=Count("pk", filter=Q(kind=Invoice.Kind.INVOICE)),
        credit_notes=Count("pk", filter=Q(kind=Invoice.Kind.CREDIT_NOTE)),
    )
    payments = Payment.objects.filter(
        company=company,
        received_on__gte=statement.period_start,
        received_on__lte=statement.period_end,
    ).aggregate(count=Count("pk"), total=Sum("amount"))
    allocations = Allocation.objects.filter(
        company=company, created_at__gte=start, created_at__lt=end
    ).aggregate(count=Count("pk"), total=Sum("amount"))
    provider = card_activity_provider()
    cards = provider.summary(company_id=company.pk, start=start, end=end) if provider else {}
    summary = {
        "opening": str(opening),
        "invoiced": str(invoiced),
        "credited": str(credited),
        "paid": str(paid),
        "closing": str(balance),
        "lines": len(lines),
        "invoices": documents["invoices"],
        "credit_notes": documents["credit_notes"],
        "payments": payments["count"],
        "payments_total": str(payments["total"] or ZERO),
        "allocations": allocations["count"],
        "allocations_total": str(allocations["total"] or ZERO),
        "aging": _aging(company, statement.period_end),
        "cards": cards,
    }
    return _Content(statement, company, start, end, opening, balance, lines, summary)
