"""Builders for the matching engine's tests: a company whose cards were ordered for named
employees (order lines carry employee id and cost center), spend on them through the merchant
services, and expense reports written directly (the intake is tested on its own)."""

from __future__ import annotations

import datetime
import itertools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cards import codes
from cards.models import Card, CardTransaction, Chunk, MerchantApiKey, Order
from cards.services import issuance
from cards.services.orders import LineInput, order_create
from cards.services.spend import (
    hold_capture,
    hold_create,
    redemption_create,
    redemption_void,
    refund_create,
)
from cards.services.workflow import order_begin_fulfilment, order_submit
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    PeriodStatus,
    ReconciliationPeriod,
    ReportStatus,
)
from expenses.services.matching import report_match
from portal import days
from portal.models import Company, Role, User
from tests import factories
from tests.cards.spend.helpers import merchant, merchant_key

_rows = itertools.count(1)


@dataclass
class Holder:
    """A card given to an employee, with its code (to spend it)."""

    card: Card
    code: str
    employee: str

    @property
    def serial(self) -> str:
        return self.card.serial_display

    @property
    def last4(self) -> str:
        """The last 4 digits of the card's serial, as an expense report names a card."""
        return self.card.serial_display[-4:]


@dataclass
class World:
    company: Company
    people: dict[str, User]
    key: MerchantApiKey
    cards: dict[str, list[Holder]] = field(default_factory=dict)
    order: Order | None = None

    def card(self, employee: str, index: int = 0) -> Holder:
        return self.cards[employee][index]


def world(
    employees: dict[str, int] | None = None,
    *,
    face: str = "1000",
    cost_center: str = "CC-SALES",
    cost_centers: dict[str, str] | None = None,
    key: MerchantApiKey | None = None,
) -> World:
    """A company with a fulfilled order: ``employees`` maps an employee id to its card count
    (each employee's cards on one order line, of ``cost_center`` or its own in
    ``cost_centers``)."""
    cost_centers = cost_centers or {}
    employees = employees or {"E001": 1, "E002": 1}
    company = factories.company(approval_threshold="1000000.00")
    people = factories.team(company)
    factories.credit_line(company, "10000000.00")
    product = factories.product()
    order = order_create(
        company=company,
        actor=people[Role.PURCHASER],
        lines=[
            LineInput(
                product=str(product.public_id),
                face_value=face,
                quantity=count,
                recipient_name=f"员工{employee}",
                employee_id=employee,
                cost_center=cost_centers.get(employee, cost_center),
            )
            for employee, count in employees.items()
        ],
    )
    order = order_submit(order=order, actor=people[Role.PURCHASER])
    order_begin_fulfilment(order_id=order.pk)
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    if key is None:
        key, _plain = merchant_key(merchant())
    result = World(company=company, people=people, key=key, order=order)
    for card in Card.objects.filter(batch__order=order).select_related("batch__line"):
        employee = card.batch.line.employee_id
        code = codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        result.cards.setdefault(employee, []).append(Holder(card, code, employee))
    for holders in result.cards.values():
        holders.sort(key=lambda h: h.card.serial)
    return result


def redeem(w: World, holder: Holder, amount: str, ref: str = "") -> CardTransaction:
    return redemption_create(
        key=w.key,
        code=holder.code,
        amount=Decimal(amount),
        merchant_reference=ref or f"POS-{uuid.uuid4().hex[:10]}",
        idempotency_key=str(uuid.uuid4()),
    ).transaction


def refund(w: World, redemption: CardTransaction, amount: str) -> CardTransaction:
    return refund_create(
        key=w.key,
        redemption_id=str(redemption.public_id),
        amount=Decimal(amount),
        idempotency_key=str(uuid.uuid4()),
    ).transaction


def void(w: World, redemption: CardTransaction) -> CardTransaction:
    return redemption_void(
        key=w.key, redemption_id=str(redemption.public_id), idempotency_key=str(uuid.uuid4())
    ).transaction


def hold_and_capture(w: World, holder: Holder, held: str, taken: str, ref: str) -> CardTransaction:
    hold, _replayed = hold_create(
        key=w.key,
        code=holder.code,
        amount=Decimal(held),
        merchant_reference=ref,
        idempotency_key=str(uuid.uuid4()),
    )
    return hold_capture(
        key=w.key, hold_id=hold.public_id, amount=Decimal(taken), idempotency_key=str(uuid.uuid4())
    ).transaction


def day_of(tx: CardTransaction) -> datetime.date:
    return days.local(tx.created_at).date()


def period(company: Company, on: datetime.date | None = None) -> ReconciliationPeriod:
    first = (on or days.today()).replace(day=1)
    found, _created = ReconciliationPeriod.objects.get_or_create(company=company, month=first)
    return found


def report(w: World, *lines: dict[str, Any]) -> ExpenseReport:
    """A report in status MATCHING with these claim lines (each a dict of ExpenseLine fields;
    ``amount`` a string; ``expense_date`` defaults to today in Asia/Shanghai)."""
    made = ExpenseReport.objects.create(
        company=w.company,
        created_by=w.people[Role.FINANCE],
        status=ReportStatus.MATCHING,
        rows_total=len(lines),
        file_name="claims.csv",
    )
    rows = []
    for row, fields in enumerate(lines, start=2):
        values = dict(fields)
        when = values.pop("expense_date", None) or days.today()
        values["amount"] = Decimal(values.pop("amount"))
        rows.append(
            ExpenseLine(
                report=made,
                company=w.company,
                period=period(w.company, when),
                row_number=row,
                report_number=values.pop("report_number", f"BX-{made.pk}"),
                line_number=values.pop("line_number", str(next(_rows))),
                employee_id=values.pop("employee_id", "E001"),
                expense_date=when,
                **values,
            )
        )
    ExpenseLine.objects.bulk_create(rows)
    return made


def match(made: ExpenseReport) -> ExpenseReport:
    return report_match(report_id=made.pk)


def lines_of(made: ExpenseReport) -> list[ExpenseLine]:
    return list(ExpenseLine.objects.filter(report=made).order_by("row_number"))


def close(period_: ReconciliationPeriod) -> None:
    period_.status = PeriodStatus.CLOSED
    period_.save(update_fields=["status"])
