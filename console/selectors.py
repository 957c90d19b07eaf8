"""The console's key figures, read from the ledger and the card transactions: each a table of
numbers (what the page shows under its charts and what its CSV and XLSX exports hold) and the
charts drawn from it.

| figure | read from |
| --- | --- |
| card liability and expired-balance liability at each month end | ledger postings |
| cards issued, redeemed and expired by month | batches, card transactions |
| receivables and their aging | open sale invoices (``aging_report``), the ledger |
| redemption volume by merchant | card transactions |

Months are Asia/Shanghai months, the last 12 up to today's. Every figure costs one or two
aggregate queries, whatever the number of cards or postings.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.models import Account, Posting
from billing.money import ZERO, format_cny
from billing.selectors import aging_chart
from billing.services.receivables.aging import BUCKETS, aging_report
from cards.models import Batch, BatchStatus, CardTransaction
from portal import days
from portal.charts import BarChart, StackedBar, bar_chart, last_months

MONTHS = 12
# Merchants drawn in the chart (the table lists them all).
CHART_MERCHANTS = 10

MONEY = "money"
COUNT = "count"
TEXT = "text"

Kind = CardTransaction.Kind
_MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class Column:
    heading: str
    kind: str = MONEY


@dataclass(frozen=True)
class FigureChart:
    title: str
    chart: BarChart | StackedBar

    @property
    def stacked(self) -> bool:
        return isinstance(self.chart, StackedBar)


def _shown(value: Any, kind: str) -> str:
    if kind == MONEY:
        return format_cny(Decimal(value))
    if kind == COUNT:
        return formats.number_format(value, 0, force_grouping=True)
    return str(value)


def _count_text(value: Decimal) -> str:
    return formats.number_format(value, 0, force_grouping=True)


@dataclass(frozen=True)
class Figure:
    """One key figure: ``rows`` hold the values (Decimal amounts, int counts, str labels), the
    first column labelling each row; ``footer`` is a total row, if any."""

    key: str
    title: str
    description: str
    columns: list[Column]
    rows: list[list[Any]]
    charts: list[FigureChart]
    footer: list[Any] | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    empty_text: str = ""

    @property
    def header(self) -> list[str]:
        return [column.heading for column in self.columns]

    def _display(self, row: list[Any]) -> list[str]:
        return [_shown(value, column.kind) for value, column in zip(row, self.columns, strict=True)]

    @property
    def display_rows(self) -> list[list[str]]:
        return [self._display(row) for row in self.rows]

    @property
    def display_footer(self) -> list[str] | None:
        return self._display(self.footer) if self.footer is not None else None

    def table(self) -> list[list[Any]]:
        """The rows an export writes after the header: the rows, then the total row."""
        return [*self.rows, *([self.footer] if self.footer is not None else [])]


def _month_label(month: datetime.date) -> str:
    return formats.date_format(month, "Y-m")


def _next_month(month: datetime.date) -> datetime.date:
    return (
        month.replace(year=month.year + 1, month=1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )


def _month_of(value: datetime.datetime) -> datetime.date:
    return days.local(value).date().replace(day=1) if timezone.is_aware(value) else value.date()


# --- Liabilities -------------------------------------------------------------------------------


def liability_at_month_ends(months: list[datetime.date]) -> dict[str, list[Decimal]]:
    """The card liability and the expired-balance liability (credit balances, shown positive)
    at the end of each month (the current month: now), in one query."""
    kinds = {
        "card": Account.Kind.CARD_LIABILITY,
        "expired": Account.Kind.EXPIRED_LIABILITY,
    }
    sums = {}
    for index, month in enumerate(months):
        end = days.day_start(_next_month(month))
        for name, kind in kinds.items():
            sums[f"{name}_{index}"] = Sum(
                "amount", filter=Q(account__kind=kind, entry__created_at__lt=end)
            )
    found = Posting.objects.filter(account__kind__in=kinds.values()).aggregate(**sums)
    return {
        name: [-(found[f"{name}_{index}"] or ZERO) + ZERO for index in range(len(months))]
        for name in kinds
    }


def liability_figure(today: datetime.date) -> Figure:
    months = last_months(today, MONTHS)
    series = liability_at_month_ends(months)
    labels = [_month_label(month) for month in months]
    card = bar_chart(
        list(zip(labels, series["card"], strict=True)),
        key="console-card-liability",
        title=_("Card liability at month end"),
        fmt=format_cny,
    )
    expired = bar_chart(
        list(zip(labels, series["expired"], strict=True)),
        key="console-expired-liability",
        title=_("Expired-balance liability at month end"),
        fmt=format_cny,
    )
    return Figure(
        key="liability",
        title=_("Card liability"),
        description=_(
            "What the issuer owes on its cards at the end of each month (this month: now), from "
            "the ledger: balances of live cards, and balances of expired cards, which their "
            "holders may still reactivate or exchange."
        ),
        columns=[
            Column(_("Month"), TEXT),
            Column(_("Card liability")),
            Column(_("Expired card balance liability")),
        ],
        rows=[
            [label, card_value, expired_value]
            for label, card_value, expired_value in zip(
                labels, series["card"], series["expired"], strict=True
            )
        ],
        charts=[
            FigureChart(_("Card liability"), card),
            FigureChart(_("Expired card balance liability"), expired),
        ],
        empty_text=_("Nothing owed on cards in the last 12 months."),
    )


# --- Cards by month -----------------------------------------------------------------------------


def cards_by_month(since: datetime.date) -> dict[datetime.date, dict[str, Any]]:
    """By month from ``since`` on: cards issued (and their face value) by the month their batch
    finished; redemptions (count and value, refunds and voids not deducted); cards expired (and
    the balance they had). Two queries."""
    start = days.day_start(since)
    found: dict[datetime.date, dict[str, Any]] = {}

    def month(key: datetime.date) -> dict[str, Any]:
        return found.setdefault(
            key,
            {
                "issued": 0,
                "issued_value": ZERO,
                "redeemed": 0,
                "redeemed_value": ZERO,
                "expired": 0,
                "expired_value": ZERO,
            },
        )

    batches: Any = (
        # Live cards only: a sandbox's test batches are no issuance (docs/api.md, "Test mode").
        Batch.objects.filter(status=BatchStatus.READY, finished_at__gte=start, is_test=False)
        .annotate(month=TruncMonth("finished_at", tzinfo=days.zone()))
        .order_by()
        .values("month")
        .annotate(
            issued=Sum("generated"),
            value=Sum(F("generated") * F("face_value"), output_field=_MONEY_FIELD),
        )
    )
    for row in batches:
        entry = month(_month_of(row["month"]))
        entry["issued"] += row["issued"] or 0
        entry["issued_value"] += row["value"] or ZERO
    movements: Any = (
        CardTransaction.objects.filter(kind__in=[Kind.REDEEM, Kind.EXPIRE], created_at__gte=start)
        .annotate(month=TruncMonth("created_at", tzinfo=days.zone()))
        .order_by()
        .values("month", "kind")
        .annotate(count=Count("pk"), amount=Sum("amount"), balance=Sum("balance_after"))
    )
    for row in movements:
        entry = month(_month_of(row["month"]))
        if row["kind"] == Kind.REDEEM:
            entry["redeemed"] += row["count"]
            entry["redeemed_value"] += -(row["amount"] or ZERO)
        else:
            # An expiry moves no money on the card: the balance it had is what expired.
            entry["expired"] += row["count"]
            entry["expired_value"] += row["balance"] or ZERO
    return found


def cards_figure(today: datetime.date) -> Figure:
    months = last_months(today, MONTHS)
    found = cards_by_month(months[0])
    empty = {
        "issued": 0,
        "issued_value": ZERO,
        "redeemed": 0,
        "redeemed_value": ZERO,
        "expired": 0,
        "expired_value": ZERO,
    }
    rows = []
    for month in months:
        values = found.get(month, empty)
        rows.append(
            [
                _month_label(month),
                values["issued"],
                values["issued_value"],
                values["redeemed"],
                values["redeemed_value"],
                values["expired"],
                values["expired_value"],
            ]
        )

    def chart(column: int, key: str, title: str, fmt: Callable[[Decimal], str]) -> BarChart:
        return bar_chart([(row[0], row[column]) for row in rows], key=key, title=title, fmt=fmt)

    return Figure(
        key="cards",
        title=_("Cards issued, redeemed and expired"),
        description=_(
            "By month: cards issued (when their batch finished), redemptions at merchants "
            "(refunds and voided redemptions not deducted), and bearer cards expired with the "
            "balance they had."
        ),
        columns=[
            Column(_("Month"), TEXT),
            Column(_("Cards issued"), COUNT),
            Column(_("Face value issued")),
            Column(_("Redemptions"), COUNT),
            Column(_("Value redeemed")),
            Column(_("Cards expired"), COUNT),
            Column(_("Balance expired")),
        ],
        rows=rows,
        charts=[
            FigureChart(
                _("Cards issued"),
                chart(1, "console-cards-issued", _("Cards issued each month"), _count_text),
            ),
            FigureChart(
                _("Value redeemed"),
                chart(4, "console-cards-redeemed", _("Value redeemed by month"), format_cny),
            ),
            FigureChart(
                _("Balance expired"),
                chart(6, "console-cards-expired", _("Balance expired by month"), format_cny),
            ),
        ],
        empty_text=_("Nothing happened in these months."),
    )


# --- Receivables --------------------------------------------------------------------------------


def receivable_in_ledger() -> Decimal:
    """The companies' receivable accounts together (a debit balance)."""
    total = Posting.objects.filter(account__kind=Account.Kind.RECEIVABLE).aggregate(
        total=Sum("amount")
    )["total"]
    return (total or ZERO) + ZERO


def receivables_figure(today: datetime.date) -> Figure:
    report = aging_report(as_of=today)
    buckets = [(key, str(label), report.totals[key]) for key, label in BUCKETS]
    return Figure(
        key="receivables",
        title=_("Receivables and aging"),
        description=_(
            "Open balances of sale invoices today, by days past due; the ledger's receivable "
            "accounts should hold the same total (the nightly ledger check compares them)."
        ),
        columns=[Column(_("Days past due"), TEXT), Column(_("Amount"))],
        rows=[[label, amount] for _key, label, amount in buckets],
        footer=[_("Total"), report.total],
        charts=[FigureChart(_("Receivables by days past due"), aging_chart(buckets))],
        facts=[
            (_("Receivable in the ledger"), format_cny(receivable_in_ledger())),
            (_("Companies owing"), _count_text(Decimal(len(report.rows)))),
        ],
        empty_text=_("No open invoice balance today."),
    )


# --- Merchants ----------------------------------------------------------------------------------


def redemptions_by_merchant(since: datetime.date) -> list[dict[str, Any]]:
    """Each merchant's redemptions (count and value), refunds and voided redemptions from
    ``since`` on, the largest value first (one query)."""
    rows = (
        CardTransaction.objects.filter(
            merchant__isnull=False,
            kind__in=[Kind.REDEEM, Kind.REFUND, Kind.REDEEM_VOID],
            created_at__gte=days.day_start(since),
        )
        .order_by()
        .values("merchant_id", "merchant__name")
        .annotate(
            count=Count("pk", filter=Q(kind=Kind.REDEEM)),
            redeemed=Sum("amount", filter=Q(kind=Kind.REDEEM)),
            returned=Sum("amount", filter=Q(kind__in=[Kind.REFUND, Kind.REDEEM_VOID])),
        )
    )
    merchants = [
        {
            "name": row["merchant__name"],
            "count": row["count"],
            "redeemed": -(row["redeemed"] or ZERO) + ZERO,
            "returned": (row["returned"] or ZERO) + ZERO,
        }
        for row in rows
    ]
    for merchant in merchants:
        merchant["net"] = merchant["redeemed"] - merchant["returned"]
    merchants.sort(key=lambda merchant: (-merchant["redeemed"], merchant["name"]))
    return merchants


def merchants_figure(today: datetime.date) -> Figure:
    months = last_months(today, MONTHS)
    merchants = redemptions_by_merchant(months[0])
    rows = [[m["name"], m["count"], m["redeemed"], m["returned"], m["net"]] for m in merchants]
    chart = bar_chart(
        [(row[0], row[2]) for row in rows[:CHART_MERCHANTS]],
        key="console-merchants",
        title=_("Value redeemed by merchant"),
        fmt=format_cny,
    )
    footer = None
    if rows:
        footer = [
            _("Total"),
            sum(m["count"] for m in merchants),
            sum((m["redeemed"] for m in merchants), ZERO),
            sum((m["returned"] for m in merchants), ZERO),
            sum((m["net"] for m in merchants), ZERO),
        ]
    return Figure(
        key="merchants",
        title=_("Redemption volume by merchant"),
        description=_(
            "The last 12 months: each merchant's redemptions, the refunds and voided "
            "redemptions it gave back, and the net (the chart shows the %(count)s largest)."
        )
        % {"count": CHART_MERCHANTS},
        columns=[
            Column(_("Merchant"), TEXT),
            Column(_("Redemptions"), COUNT),
            Column(_("Value redeemed")),
            Column(_("Refunds and voids")),
            Column(_("Net")),
        ],
        rows=rows,
        footer=footer,
        charts=[FigureChart(_("Value redeemed by merchant"), chart)],
        empty_text=_("No card was redeemed at a merchant in the last 12 months."),
    )


FIGURES: dict[str, Callable[[datetime.date], Figure]] = {
    "liability": liability_figure,
    "cards": cards_figure,
    "receivables": receivables_figure,
    "merchants": merchants_figure,
}


def console_figures(today: datetime.date | None = None) -> list[Figure]:
    today = today or days.today()
    return [build(today) for build in FIGURES.values()]


def figure_get(key: str, today: datetime.date | None = None) -> Figure | None:
    build = FIGURES.get(key)
    return build(today or days.today()) if build is not None else None
