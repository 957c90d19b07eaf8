"""A period's figures (by cost center, employee or order) and the chain of one claim line.

The figures of a month (Asia/Shanghai), each from where it is recorded:

- **bought**: the cards of the company's orders invoiced in the month (the invoice's issue
  date): order lines' quantity and quantity times face value;
- **delivered**: cards whose codes reached people in the month: every card of a file-delivered
  order whose codes were first downloaded in the month, and each link sent to a recipient in
  the month;
- **spent**: the month's card redemptions, voided ones left out, each net of its refunds;
- **matched** and **unclaimed**: the part of each redemption claim lines cover (lines not
  rejected, of reports not discarded; never more than the redemption), and the rest;
- **claimed**: the period's claim lines (count and amount);
- **never spent**: cards issued before the month ended with no redemption (voided ones do not
  count) before it ended; voided and canary cards aside.

Spend, matched and unclaimed are read from ``expenses.selectors.month_spend``, the one
definition of claimed spend (closing, the exception queue and the dashboard read it too).

Card figures are grouped by the card's order line (its cost center and employee ID) or order;
claim lines by their own cost center and employee ID, and by the order of the card they were
matched to. Every figure is one aggregate query over the company's rows (no loop over cards):
a company may hold a million cards.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    Min,
    OuterRef,
    QuerySet,
    Sum,
)
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cards.models import (
    Card,
    CardStatus,
    CardTransaction,
    DeliveryMethod,
    Order,
    OrderLine,
    RecipientDelivery,
)
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    ReconciliationPeriod,
)
from expenses.selectors import month_bounds, month_spend
from portal.exports import CsvWriter, XlsxWriter
from portal.models import Company

ZERO = Decimal("0.00")
Kind = CardTransaction.Kind
MONEY = DecimalField(max_digits=14, decimal_places=2)

DIMENSIONS = {
    "cost_center": gettext_lazy("Cost center"),
    "employee": gettext_lazy("Employee ID"),
    "order": gettext_lazy("Order"),
}
# Where each dimension is read from, by the row the figure comes from.
_ORDER_LINE = {"cost_center": "cost_center", "employee": "employee_id", "order": "order__number"}


def _via(prefix: str) -> dict[str, str]:
    return {name: prefix + path for name, path in _ORDER_LINE.items()}


_CARD = _via("batch__line__")
_TRANSACTION = _via("card__batch__line__")
_DELIVERY = _via("line__")
_CLAIM = {
    "cost_center": "cost_center",
    "employee": "employee_id",
    "order": "card__batch__order__number",
}


@dataclass
class FigureRow:
    key: str
    bought_cards: int = 0
    bought_value: Decimal = ZERO
    delivered_cards: int = 0
    spent: Decimal = ZERO
    matched: Decimal = ZERO
    unclaimed: Decimal = ZERO
    claimed_lines: int = 0
    claimed_amount: Decimal = ZERO
    never_spent_cards: int = 0
    never_spent_value: Decimal = ZERO

    def add(self, other: FigureRow) -> None:
        for item in fields(self):
            if item.name != "key":
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass
class PeriodFigures:
    company: Company
    month: datetime.date
    dimension: str
    rows: list[FigureRow] = field(default_factory=list)
    total: FigureRow = field(default_factory=lambda: FigureRow(key=""))


def _grouped(queryset: QuerySet[Any], path: str, **aggregates: Any) -> dict[str, dict[str, Any]]:
    rows = queryset.order_by().values(group=F(path)).annotate(**aggregates)
    result: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = (row.pop("group") or "").strip()
        seen = result.setdefault(key, {})
        for name, value in row.items():
            seen[name] = seen.get(name, 0) + (value or 0)
    return result


def _voided() -> Exists:
    """The redemption (the outer query's row) was voided."""
    return Exists(CardTransaction.objects.filter(original=OuterRef("pk"), kind=Kind.REDEEM_VOID))


def _spend(company: Company, month: datetime.date, path: str) -> dict[str, dict[str, Any]]:
    """Per group: the month's spend, matched and unclaimed, as ``expenses.selectors`` defines
    them. One query, each redemption computed in it."""
    return _grouped(
        month_spend(company=company, month=month),
        path,
        spent=Sum("net"),
        matched=Sum("matched"),
        unclaimed=Sum("unclaimed"),
    )


def period_figures(
    *, company: Company, month: datetime.date, dimension: str = "cost_center"
) -> PeriodFigures:
    """The month's figures for the company, one row per cost center, employee ID or order
    (``dimension``), with their total."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    start, end = month_bounds(month)
    first, last = start.date(), (end - datetime.timedelta(days=1)).date()
    rows: dict[str, FigureRow] = {}

    def row(key: str) -> FigureRow:
        return rows.setdefault(key, FigureRow(key=key))

    bought = _grouped(
        OrderLine.objects.filter(
            order__company=company,
            order__invoice__isnull=False,
            order__invoice__issue_date__gte=first,
            order__invoice__issue_date__lte=last,
        ),
        _ORDER_LINE[dimension],
        cards=Sum("quantity"),
        value=Sum(F("quantity") * F("face_value")),
    )
    for key, values in bought.items():
        row(key).bought_cards += values["cards"]
        row(key).bought_value += values["value"]

    first_downloaded = (
        Order.objects.filter(company=company, delivery_method=DeliveryMethod.FILE)
        .annotate(first_download=Min("code_downloads__created_at"))
        .filter(first_download__gte=start, first_download__lt=end)
        .values("pk")
    )
    downloaded = _grouped(
        OrderLine.objects.filter(order__in=first_downloaded),
        _ORDER_LINE[dimension],
        cards=Sum("batch__generated"),
    )
    sent = _grouped(
        RecipientDelivery.objects.filter(
            order__company=company, sent_at__gte=start, sent_at__lt=end
        ),
        _DELIVERY[dimension],
        cards=Count("id"),
    )
    for source in (downloaded, sent):
        for key, values in source.items():
            row(key).delivered_cards += values["cards"]

    for key, values in _spend(company, first, _TRANSACTION[dimension]).items():
        row(key).spent += values["spent"]
        row(key).matched += values["matched"]
        row(key).unclaimed += values["unclaimed"]

    period = ReconciliationPeriod.objects.filter(company=company, month=first).first()
    if period is not None:
        claimed = _grouped(
            ExpenseLine.objects.filter(company=company, period=period),
            _CLAIM[dimension],
            lines=Count("id"),
            amount=Sum("amount"),
        )
        for key, values in claimed.items():
            row(key).claimed_lines += values["lines"]
            row(key).claimed_amount += values["amount"]

    redeemed_before_end = CardTransaction.objects.filter(
        card=OuterRef("pk"), kind=Kind.REDEEM, created_at__lt=end
    ).exclude(_voided())
    never_spent = _grouped(
        Card.objects.filter(batch__company=company, created_at__lt=end, is_canary=False)
        .exclude(status=CardStatus.VOIDED)
        .filter(~Exists(redeemed_before_end)),
        _CARD[dimension],
        cards=Count("id"),
        value=Sum("face_value"),
    )
    for key, values in never_spent.items():
        row(key).never_spent_cards += values["cards"]
        row(key).never_spent_value += values["value"]

    figures = PeriodFigures(company=company, month=first, dimension=dimension)
    for key in sorted(rows, key=lambda k: (k == "", k)):
        item = rows[key]
        figures.rows.append(item)
        figures.total.add(item)
    return figures


FIGURE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("bought_cards", gettext_lazy("Cards bought")),
    ("bought_value", gettext_lazy("Face value bought")),
    ("delivered_cards", gettext_lazy("Cards delivered")),
    ("spent", gettext_lazy("Spent")),
    ("matched", gettext_lazy("Spend matched to claims")),
    ("unclaimed", gettext_lazy("Unclaimed spend")),
    ("claimed_lines", gettext_lazy("Claim lines")),
    ("claimed_amount", gettext_lazy("Claimed")),
    ("never_spent_cards", gettext_lazy("Cards never spent")),
    ("never_spent_value", gettext_lazy("Face value never spent")),
)


def figures_table(figures: PeriodFigures) -> tuple[list[str], list[list[Any]]]:
    header = [str(DIMENSIONS[figures.dimension])] + [str(label) for _name, label in FIGURE_COLUMNS]
    body: list[list[Any]] = [
        [item.key or _("(none)")] + [getattr(item, name) for name, _label in FIGURE_COLUMNS]
        for item in figures.rows
    ]
    body.append([_("Total")] + [getattr(figures.total, name) for name, _label in FIGURE_COLUMNS])
    return header, body


def figures_export(figures: PeriodFigures, *, fmt: str) -> bytes:
    """The figures as CSV (UTF-8 with BOM) or XLSX: keys as text, amounts with two decimals."""
    header, body = figures_table(figures)
    buffer = io.BytesIO()
    if fmt == "xlsx":
        title = _("Figures %(month)s") % {"month": figures.month.strftime("%Y-%m")}
        xlsx = XlsxWriter(buffer, title, header)
        xlsx.writerows(body)
        xlsx.close()
    else:
        writer = CsvWriter(buffer)
        writer.writerow(header)
        writer.writerows(body)
        writer.close()
    return buffer.getvalue()


# --- The chain of one claim line -----------------------------------------------------------------


@dataclass
class ChainTransaction:
    transaction: CardTransaction
    lines: list[ExpenseLine]  # the claim lines matched to it (this one among them, or not)
    matched_here: Decimal  # the part the chain's own line claims


@dataclass
class ChainCard:
    card: Card
    order: Order
    order_line: OrderLine
    invoice_number: str
    invoice_date: datetime.date | None
    transactions: list[ChainTransaction]
    more_transactions: int  # beyond those shown


CHAIN_TRANSACTIONS = 100


def line_chain(*, line: ExpenseLine) -> list[ChainCard]:
    """From the invoice to the claim: for each card the line is matched to (or names), its
    order and invoice, its transactions and the claim lines matched to each. The company's own
    cards only; never a code."""
    own_matches = {
        match.transaction_id: match.amount for match in ExpenseMatch.objects.filter(line=line)
    }
    card_ids = set(
        CardTransaction.objects.filter(pk__in=own_matches).values_list("card_id", flat=True)
    )
    if line.card_id:
        card_ids.add(line.card_id)
    cards = (
        Card.objects.filter(pk__in=card_ids, batch__company_id=line.company_id)
        .select_related("batch__line", "batch__order__invoice")
        .order_by("serial")
    )
    chain: list[ChainCard] = []
    for card in cards:
        transactions = list(
            CardTransaction.objects.filter(card=card)
            .select_related("merchant")
            .order_by("created_at", "id")[:CHAIN_TRANSACTIONS]
        )
        total = CardTransaction.objects.filter(card=card).count()
        claims: dict[int, list[ExpenseLine]] = {}
        for match in (
            ExpenseMatch.objects.filter(
                line__company_id=line.company_id, transaction__in=[t.pk for t in transactions]
            )
            .select_related("line")
            .order_by("line__report_number", "line__line_number", "line_id")
        ):
            claims.setdefault(match.transaction_id, []).append(match.line)
        order = card.batch.order
        chain.append(
            ChainCard(
                card=card,
                order=order,
                order_line=card.batch.line,
                invoice_number=order.invoice.number if order.invoice else "",
                invoice_date=order.invoice.issue_date if order.invoice else None,
                transactions=[
                    ChainTransaction(
                        transaction=tx,
                        lines=claims.get(tx.pk, []),
                        matched_here=own_matches.get(tx.pk, ZERO),
                    )
                    for tx in transactions
                ],
                more_transactions=max(total - len(transactions), 0),
            )
        )
    return chain


def chain_data(line: ExpenseLine, chain: Iterable[ChainCard]) -> dict[str, Any]:
    """The chain as the API answers it."""
    return {
        "line": {
            "id": str(line.public_id),
            "report_number": line.report_number,
            "line_number": line.line_number,
            "employee_id": line.employee_id,
            "expense_date": line.expense_date.isoformat(),
            "amount": str(line.amount),
            "state": line.state,
            "resolution": line.resolution,
        },
        "cards": [
            {
                "invoice": {"number": item.invoice_number, "issue_date": item.invoice_date}
                if item.invoice_number
                else None,
                "order": {"number": item.order.number, "id": str(item.order.public_id)},
                "order_line": {
                    "position": item.order_line.position,
                    "face_value": str(item.order_line.face_value),
                    "employee_id": item.order_line.employee_id,
                    "cost_center": item.order_line.cost_center,
                },
                "card": {
                    "serial": item.card.serial_display,
                    "face_value": str(item.card.face_value),
                    "balance": str(item.card.balance),
                    "status": item.card.status,
                },
                "transactions": [
                    {
                        "id": str(tx.transaction.public_id) if tx.transaction.public_id else None,
                        "kind": tx.transaction.kind,
                        "amount": str(tx.transaction.amount),
                        "created_at": tx.transaction.created_at,
                        "merchant": tx.transaction.merchant.name if tx.transaction.merchant else "",
                        "merchant_reference": tx.transaction.merchant_reference,
                        "matched_to_this_line": str(tx.matched_here),
                        "claim_lines": [
                            {
                                "id": str(claim.public_id),
                                "report_number": claim.report_number,
                                "line_number": claim.line_number,
                            }
                            for claim in tx.lines
                        ],
                    }
                    for tx in item.transactions
                ],
                "more_transactions": item.more_transactions,
            }
            for item in chain
        ],
    }
