"""Reads of the exception queue and the periods, shared by the portal pages and the API: a
company's periods with their counts, a period by its month, the lines of a period filtered as
finance asks, each with its evidence (its matches, the duplicate's original), and the card spend
a line could be linked to by hand (the same employee's cards near the claim's date).

Every read starts from a company's rows (``portal.access`` or ``portal.api.access`` hands the
company in): nothing here reaches another company's lines or spend."""

from __future__ import annotations

import datetime
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from billing.money import ZERO
from cards.models import CardTransaction
from expenses.models import (
    EXCEPTION_STATES,
    ExpenseLine,
    ExpenseMatch,
    LineState,
    PeriodReport,
    ReconciliationPeriod,
    Resolution,
)
from expenses.selectors import unclaimed_spend_rows
from expenses.services.resolution import RETURN_KINDS, company_spend
from portal import days
from portal.models import Company

# Candidate spend for a link by hand: the employee's card spend this many days either side of
# the claim's date.
CANDIDATE_DAYS = 7
CANDIDATES_PER_LINE = 10
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONEY = DecimalField(max_digits=14, decimal_places=2)

OPEN_EXCEPTION = Q(state__in=EXCEPTION_STATES) & Q(resolution=Resolution.NONE)


def parse_month(text: str) -> datetime.date | None:
    """``2026-11`` as the month's first day, or None."""
    found = MONTH_PATTERN.match((text or "").strip())
    if not found:
        return None
    return datetime.date(int(found.group(1)), int(found.group(2)), 1)


def periods_of(periods: QuerySet[ReconciliationPeriod]) -> QuerySet[ReconciliationPeriod]:
    """The periods with their line counts, amounts and open exceptions, the latest first."""
    return periods.annotate(
        line_count=Count("lines", distinct=True),
        line_amount=Coalesce(Sum("lines__amount"), ZERO, output_field=_MONEY),
        open_count=Count(
            "lines",
            filter=Q(lines__state__in=EXCEPTION_STATES) & Q(lines__resolution=Resolution.NONE),
            distinct=True,
        ),
    ).order_by("-month")


def current_period(periods: QuerySet[ReconciliationPeriod]) -> ReconciliationPeriod | None:
    """This month's period (Asia/Shanghai), if the company has one."""
    return periods.filter(month=days.today().replace(day=1)).first()


@dataclass(frozen=True)
class ExpensePanel:
    """The dashboard's view of this month: its open exceptions and the spend nobody claimed."""

    month: datetime.date
    open_count: int
    open_amount: Decimal
    unclaimed_count: int
    unclaimed_amount: Decimal

    @property
    def month_text(self) -> str:
        return f"{self.month:%Y-%m}"


def expense_panel(company: Company) -> ExpensePanel:
    """This month's (Asia/Shanghai) open exceptions of the company and its unclaimed card
    spend, in one query whatever its size."""
    month = days.today().replace(day=1)
    opened = (
        ExpenseLine.objects.filter(OPEN_EXCEPTION, company=OuterRef("pk"), period__month=month)
        .order_by()
        .values("company")
        .annotate(n=Count("pk"), s=Sum("amount"))
    )
    unclaimed = (
        unclaimed_spend_rows(company=OuterRef("pk"), month=month)
        .order_by()
        .values("card__batch__company")
        .annotate(n=Count("pk"), s=Sum("unclaimed"))
    )
    row = (
        Company.objects.filter(pk=company.pk)
        .annotate(
            open_count=Subquery(opened.values("n")),
            open_amount=Subquery(opened.values("s"), output_field=_MONEY),
            unclaimed_count=Subquery(unclaimed.values("n")),
            unclaimed_amount=Subquery(unclaimed.values("s"), output_field=_MONEY),
        )
        .values("open_count", "open_amount", "unclaimed_count", "unclaimed_amount")
        .get()
    )
    return ExpensePanel(
        month=month,
        open_count=row["open_count"] or 0,
        open_amount=row["open_amount"] or ZERO,
        unclaimed_count=row["unclaimed_count"] or 0,
        unclaimed_amount=row["unclaimed_amount"] or ZERO,
    )


def period_reports(period: ReconciliationPeriod) -> list[PeriodReport]:
    return list(
        PeriodReport.objects.filter(period=period)
        .select_related("created_by")
        .order_by("-version", "file_format")
    )


@dataclass(frozen=True)
class QueueFilters:
    state: str = ""  # a LineState, "" for every exception, "all" for every line
    resolution: str = "open"  # open / accepted / rejected / "" (any)
    report: str = ""  # report number
    employee: str = ""  # employee id or name (contains)
    cost_center: str = ""

    def apply(self, lines: QuerySet[ExpenseLine]) -> QuerySet[ExpenseLine]:
        if self.state == "all":
            pass
        elif self.state:
            lines = lines.filter(state=self.state)
        else:
            lines = lines.filter(state__in=EXCEPTION_STATES)
        if self.resolution == "open":
            lines = lines.filter(resolution=Resolution.NONE)
        elif self.resolution:
            lines = lines.filter(resolution=self.resolution)
        if self.report:
            lines = lines.filter(report_number=self.report)
        if self.employee:
            lines = lines.filter(
                Q(employee_id__iexact=self.employee) | Q(employee_name__icontains=self.employee)
            )
        if self.cost_center:
            lines = lines.filter(cost_center__iexact=self.cost_center)
        return lines


def queue_lines(period: ReconciliationPeriod, filters: QueueFilters) -> QuerySet[ExpenseLine]:
    """The period's lines as the filters ask, with what the page shows of each."""
    matches = ExpenseMatch.objects.select_related("transaction__merchant").order_by("pk")
    return (
        filters.apply(ExpenseLine.objects.filter(period=period))
        .select_related("card", "resolved_by", "report", "duplicate_of")
        .prefetch_related(Prefetch("matches", queryset=matches))
        .order_by("report_number", "row_number", "pk")
    )


def report_numbers(period: ReconciliationPeriod) -> list[str]:
    return list(
        ExpenseLine.objects.filter(period=period)
        .order_by("report_number")
        .values_list("report_number", flat=True)
        .distinct()
    )


# --- Candidate spend for a link by hand -----------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    transaction: CardTransaction
    available: Decimal

    @property
    def spent(self) -> Decimal:
        return -self.transaction.amount


def _spend_with_left(company: Company) -> QuerySet[CardTransaction]:
    returned = (
        CardTransaction.objects.filter(original=OuterRef("pk"), kind__in=RETURN_KINDS)
        .order_by()
        .values("original")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    claimed = (
        ExpenseMatch.objects.filter(transaction=OuterRef("pk"))
        .order_by()
        .values("transaction")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return company_spend(company).annotate(
        returned=Coalesce(Subquery(returned, output_field=_MONEY), ZERO, output_field=_MONEY),
        claimed=Coalesce(Subquery(claimed, output_field=_MONEY), ZERO, output_field=_MONEY),
    )


def candidates_for(company: Company, lines: Sequence[ExpenseLine]) -> dict[int, list[Candidate]]:
    """For each line (by pk), the card spend of its employee's cards within
    ``CANDIDATE_DAYS`` of its date that claims have not taken in full, nearest first. One
    query for all the lines."""
    if not lines:
        return {}
    employees = {line.employee_id for line in lines if line.employee_id}
    first = min(line.expense_date for line in lines) - datetime.timedelta(days=CANDIDATE_DAYS)
    last = max(line.expense_date for line in lines) + datetime.timedelta(days=CANDIDATE_DAYS)
    start, end = days.days_bounds(first, last)
    found = (
        _spend_with_left(company)
        .filter(
            card__batch__line__employee_id__in=employees,
            created_at__gte=start,
            created_at__lt=end,
        )
        .select_related("card__batch__line", "merchant")
        .order_by("created_at", "pk")[:2000]
    )
    by_employee: dict[str, list[Candidate]] = defaultdict(list)
    for tx in found:
        available = -tx.amount - tx.returned - tx.claimed  # type: ignore[attr-defined]
        if available > ZERO:
            by_employee[tx.card.batch.line.employee_id].append(Candidate(tx, available))
    result: dict[int, list[Candidate]] = {}
    for line in lines:
        linked = {m.transaction_id for m in line.matches.all()}
        near = [
            c
            for c in by_employee.get(line.employee_id, [])
            if c.transaction.pk not in linked
            and abs((days.local(c.transaction.created_at).date() - line.expense_date).days)
            <= CANDIDATE_DAYS
        ]
        near.sort(
            key=lambda c: (
                abs((days.local(c.transaction.created_at).date() - line.expense_date).days),
                abs(c.available - line.amount),
            )
        )
        result[line.pk] = near[:CANDIDATES_PER_LINE]
    return result


def spend_by_public_id(company: Company, public_id: Any) -> CardTransaction | None:
    """One of the company's card spend by its public id (None for another company's, or an
    id that is not one)."""
    try:
        wanted = uuid.UUID(str(public_id).strip())
    except ValueError:
        return None
    return company_spend(company).select_related("card").filter(public_id=wanted).first()


def states_for_filter() -> Iterable[tuple[str, str]]:
    return [(str(state.value), str(state.label)) for state in EXCEPTION_STATES] + [
        (LineState.MATCHED.value, str(LineState.MATCHED.label))
    ]
