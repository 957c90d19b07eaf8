"""What the dashboard shows one member: the sections their role's actions open, each read once.

A section is decided by what the member may do (``portal.policy.can``), never by the name of
their role, so an owner, who may do everything, sees every section:

| section | shown to whoever may |
| --- | --- |
| orders waiting for approval | ``order.approve`` |
| codes ready to download | ``codes.download`` |
| invoices due and overdue, spend, cards issued, card spend by month, credit | ``credit.read`` |
| the last statement | ``statements.request`` |
| own drafts | ``order.create`` |
| order files in progress | ``order.upload`` |
| recent orders and counts | ``order.read`` (everyone) |
| this month's open expense exceptions and unclaimed card spend | ``expenses.read`` |

The reads are the apps' selectors; this module only chooses and bounds them (a few rows each),
so the page costs a fixed number of queries whatever the company's size.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import formats
from django.utils.translation import gettext as _

from billing import selectors as billing_selectors
from billing.models import Invoice, Statement
from billing.money import format_cny
from cards import summaries
from cards.models import Batch, Order, OrderUpload
from cards.selectors import orders_awaiting_approval
from expenses.exception_queue import ExpensePanel, expense_panel
from portal import days
from portal.access import active_company, active_membership, company_objects
from portal.charts import BarChart, MonthSeries, bar_chart, last_months
from portal.models import AuditEvent, Invitation, Membership, Role
from portal.policy import Action, can

LIST_ROWS = 8
MONTHS = 12


@dataclass(frozen=True)
class CardActivity:
    """Redemptions by month: the chart of their value, and the table of value and count."""

    chart: BarChart
    rows: list[tuple[str, str, str]]  # month, value, count, as shown


@dataclass
class Dashboard:
    """Each section is None when the member's role does not open it."""

    counts: dict[str, int]
    recent_orders: list[Order]
    approvals: list[Order] | None = None
    codes_ready: list[Order] | None = None
    due_soon: list[billing_selectors.DueInvoice] | None = None
    overdue: list[billing_selectors.DueInvoice] | None = None
    last_statement: Statement | None = None
    show_last_statement: bool = False
    drafts: list[Order] | None = None
    uploads: list[OrderUpload] | None = None
    spend_chart: BarChart | None = None
    cards_chart: BarChart | None = None
    card_activity: CardActivity | None = None
    expenses: ExpensePanel | None = None
    overdue_total: Decimal = Decimal(0)
    people: dict[str, Any] = field(default_factory=dict)
    recent_events: list[AuditEvent] = field(default_factory=list)


def _month_label(month: datetime.date) -> str:
    return formats.date_format(month, "Y-m")


def monthly_charts(request: HttpRequest, *, today: datetime.date) -> tuple[BarChart, BarChart]:
    """Spend (funded orders' prices) and cards issued by month, the last 12 months."""
    months = last_months(today, MONTHS)
    spend = MonthSeries.of(
        months, summaries.spend_by_month(company_objects(request, Order), since=months[0])
    )
    cards = MonthSeries.of(
        months, summaries.cards_issued_by_month(company_objects(request, Batch), since=months[0])
    )
    return (
        bar_chart(
            spend.points(_month_label),
            key="spend",
            title=_("Spend by month"),
            fmt=format_cny,
        ),
        bar_chart(
            cards.points(_month_label),
            key="cards-issued",
            title=_("Cards issued by month"),
            fmt=lambda value: formats.number_format(value, 0, force_grouping=True),
        ),
    )


def card_activity_chart(request: HttpRequest, *, today: datetime.date) -> CardActivity:
    """The value and number of the company's card redemptions by month, the last 12 months."""
    months = last_months(today, MONTHS)
    found = summaries.redemptions_by_month(company_objects(request, Batch), since=months[0])
    value = MonthSeries.of(months, {month: spent for month, (spent, _n) in found.items()})
    chart = bar_chart(
        value.points(_month_label),
        key="card-activity",
        title=_("Card spend by month"),
        fmt=format_cny,
    )
    rows = [
        (
            row.label,
            row.text,
            formats.number_format(found.get(month, (0, 0))[1], 0, force_grouping=True),
        )
        for month, row in zip(months, chart.rows, strict=True)
    ]
    return CardActivity(chart=chart, rows=rows)


def _people(request: HttpRequest) -> dict[str, Any]:
    members = company_objects(request, Membership).only("role")
    roles = Counter(m.role for m in members)
    return {
        "member_count": sum(roles.values()),
        "role_counts": [(label, roles.get(value, 0)) for value, label in Role.choices],
        "open_invitations": company_objects(request, Invitation)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .count(),
    }


def dashboard_for(request: HttpRequest) -> Dashboard:
    membership = active_membership(request)
    orders = company_objects(request, Order)
    today = days.today()
    board = Dashboard(
        counts=summaries.order_counts(orders),
        recent_orders=list(summaries.orders_recent(orders)[:LIST_ROWS]),
        people=_people(request),
    )
    if can(membership, Action.ORDER_APPROVE):
        board.approvals = list(orders_awaiting_approval(orders)[:LIST_ROWS])
    if can(membership, Action.CODES_DOWNLOAD):
        board.codes_ready = list(summaries.orders_codes_ready(orders)[:LIST_ROWS])
    if can(membership, Action.CREDIT_READ):
        invoices = company_objects(request, Invoice)
        board.due_soon = billing_selectors.invoices_due_soon(invoices, today=today, limit=LIST_ROWS)
        board.overdue = billing_selectors.invoices_overdue(invoices, today=today, limit=LIST_ROWS)
        if board.overdue:
            board.overdue_total = billing_selectors.overdue_balance(invoices, today=today)
        board.spend_chart, board.cards_chart = monthly_charts(request, today=today)
        board.card_activity = card_activity_chart(request, today=today)
    if can(membership, Action.STATEMENTS_REQUEST):
        board.show_last_statement = True
        board.last_statement = billing_selectors.last_statement(company_objects(request, Statement))
    if can(membership, Action.ORDER_CREATE):
        board.drafts = list(
            summaries.orders_drafts(orders.filter(created_by_id=membership.user_id))[:LIST_ROWS]
        )
    if can(membership, Action.ORDER_UPLOAD):
        board.uploads = list(
            summaries.uploads_in_progress(company_objects(request, OrderUpload))[:LIST_ROWS]
        )
    if can(membership, Action.EXPENSES_READ):
        board.expenses = expense_panel(active_company(request))
    if can(membership, Action.AUDIT_READ):
        board.recent_events = list(company_objects(request, AuditEvent)[:LIST_ROWS])
    return board
