"""Builders for the voucher, figures and chain tests: cards, orders and spend through the real
services; claim lines written directly (intake and matching are other modules' work)."""

from __future__ import annotations

import datetime
import itertools
import uuid
from decimal import Decimal

from cards import codes
from cards.models import Card, CardTransaction, Order, OrderStatus
from cards.services import issuance
from cards.services.orders import LineInput, order_create
from cards.services.spend import redemption_create
from cards.services.spend.returns import redemption_void, refund_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    ExpenseReport,
    LineState,
    PeriodStatus,
    ReconciliationPeriod,
    Resolution,
)
from expenses.services.mapping import RuleInput, mapping_save
from portal.models import Company, Role, User
from tests import factories
from tests.cards.spend.helpers import merchant, merchant_key
from tests.cards.test_cards_pages import Buyer, buyer

MONTH = datetime.date(2026, 11, 1)
_rows = itertools.count(2)

__all__ = ["MONTH", "Buyer", "buyer"]


def cards_for(
    who: Buyer, *, face: str = "500", count: int = 1, employee_id: str = "", cost_center: str = ""
) -> list[Card]:
    """Issued cards of one credit order line for an employee and cost center."""
    product = factories.product()
    purchaser = who.people[Role.PURCHASER]
    order = order_create(
        company=who.company,
        actor=purchaser,
        lines=[
            LineInput(
                product=str(product.public_id),
                face_value=face,
                quantity=count,
                employee_id=employee_id,
                cost_center=cost_center,
            )
        ],
    )
    order = order_submit(order=order, actor=purchaser)
    order_begin_fulfilment(order_id=order.pk)
    for chunk in order.batches.get().chunks.order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    issuance.batch_finalise(batch_id=order.batches.get().pk)
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.FULFILLED
    return list(Card.objects.filter(batch__order=order).order_by("serial"))


class Shop:
    """A merchant with a key, spending cards through the redemption service."""

    def __init__(self) -> None:
        self.key, _plaintext = merchant_key(merchant())

    def spend(self, card: Card, amount: str, reference: str = "") -> CardTransaction:
        code = codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        result = redemption_create(
            key=self.key,
            code=code,
            amount=Decimal(amount),
            merchant_reference=reference or f"R-{uuid.uuid4().hex[:8]}",
            idempotency_key=str(uuid.uuid4()),
        )
        return CardTransaction.objects.get(pk=result.transaction.pk)

    def refund(self, redemption: CardTransaction, amount: str) -> CardTransaction:
        result = refund_create(
            key=self.key,
            redemption_id=str(redemption.public_id),
            amount=Decimal(amount),
            idempotency_key=str(uuid.uuid4()),
        )
        return CardTransaction.objects.get(pk=result.transaction.pk)

    def void(self, redemption: CardTransaction) -> CardTransaction:
        result = redemption_void(
            key=self.key, redemption_id=str(redemption.public_id), idempotency_key=str(uuid.uuid4())
        )
        return CardTransaction.objects.get(pk=result.transaction.pk)


def period_of(company: Company, month: datetime.date = MONTH) -> ReconciliationPeriod:
    period, _created = ReconciliationPeriod.objects.get_or_create(company=company, month=month)
    return period


def close(period: ReconciliationPeriod) -> ReconciliationPeriod:
    period.status = PeriodStatus.CLOSED
    period.save(update_fields=["status"])
    return period


def claim(
    company: Company,
    *,
    amount: str,
    cost_center: str = "",
    category: str = "",
    description: str = "",
    employee_id: str = "E001",
    state: str = LineState.MATCHED,
    resolution: str = Resolution.NONE,
    transaction: CardTransaction | None = None,
    month: datetime.date = MONTH,
    report_number: str = "R-1",
) -> ExpenseLine:
    """A claim line of a (shared) report of the company, in the month's period, matched to
    ``transaction`` when given."""
    owner = User.objects.filter(memberships__company=company).first()
    assert owner is not None
    report = ExpenseReport.objects.filter(company=company).first() or ExpenseReport.objects.create(
        company=company, created_by=owner, status="matched"
    )
    row = next(_rows)
    line = ExpenseLine.objects.create(
        report=report,
        company=company,
        period=period_of(company, month),
        row_number=row,
        report_number=report_number,
        line_number=str(row - 1),
        employee_id=employee_id,
        employee_name="张三",
        expense_date=month + datetime.timedelta(days=3),
        amount=Decimal(amount),
        cost_center=cost_center,
        category=category,
        description=description,
        state=state,
        resolution=resolution,
        card=transaction.card if transaction else None,
        matched_amount=Decimal(amount) if transaction else Decimal("0"),
    )
    if transaction is not None:
        ExpenseMatch.objects.create(line=line, transaction=transaction, amount=Decimal(amount))
    return line


def mapping(
    company: Company,
    actor: User,
    *,
    rules: list[RuleInput] | None = None,
    subledger: bool = False,
    prepaid: str = "1123",
    default: str = "6602",
) -> None:
    mapping_save(
        company=company,
        actor=actor,
        prepaid_account=prepaid,
        prepaid_account_name="预付账款-电子卡",
        default_expense_account=default,
        default_expense_account_name="管理费用",
        employee_subledger=subledger,
        rules=rules or [],
    )
