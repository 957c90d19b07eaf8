"""Builders for the tests of resolving and closing: a company whose cards were handed to
employees and spent through the merchant services, and expense reports, claim lines and matches
written as rows (the intake and the matching engine are tested on their own)."""

from __future__ import annotations

import datetime
import itertools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.test import Client

from cards import codes
from cards.models import Card, CardTransaction, Merchant, MerchantApiKey
from cards.services.spend import redemption_create, refund_create
from expenses.models import (
    Evidence,
    ExpenseLine,
    ExpenseMatch,
    ExpenseReport,
    LineState,
    ReconciliationPeriod,
    ReportStatus,
)
from portal import days
from portal.models import Company, Role, User
from tests.cards import spend_data
from tests.cards.spend.helpers import merchant_key
from tests.cards.test_cards_pages import buyer
from tests.conftest import sign_in

_rows = itertools.count(2)
NEEDS_2FA = {Role.OWNER, Role.APPROVER, Role.FINANCE}


@dataclass
class Books:
    """A company, a member of each role, and two employees' cards (E001: two cards of ¥500 in
    cost center CC-10; E002: one card of ¥500 in CC-20) with a shop to spend them at."""

    company: Company
    people: dict[str, User]
    cards: dict[str, list[Card]]
    key: MerchantApiKey
    shop: Merchant
    reports: dict[str, ExpenseReport] = field(default_factory=dict)

    @property
    def finance(self) -> User:
        return self.people[Role.FINANCE]

    @property
    def owner(self) -> User:
        return self.people[Role.OWNER]

    def client(self, role: str = Role.FINANCE) -> Client:
        client = Client(headers={"accept-language": "en"})
        sign_in(client, self.people[role], second_factor=role in NEEDS_2FA)
        return client

    def spend(self, employee: str, amount: str, *, card: int = 0, ref: str = "") -> CardTransaction:
        """A redemption through the merchant service, now."""
        chosen = self.cards[employee][card]
        code = codes.reveal(
            serial=chosen.serial_display, key_id=chosen.key_id, ciphertext=bytes(chosen.ciphertext)
        )
        result = redemption_create(
            key=self.key,
            code=code,
            amount=Decimal(amount),
            merchant_reference=ref or f"POS-{uuid.uuid4().hex[:10]}",
            idempotency_key=str(uuid.uuid4()),
        )
        return result.transaction

    def refund(self, tx: CardTransaction, amount: str) -> CardTransaction:
        return refund_create(
            key=self.key,
            redemption_id=str(tx.public_id),
            amount=Decimal(amount),
            idempotency_key=str(uuid.uuid4()),
        ).transaction

    def period(self, month: datetime.date | None = None) -> ReconciliationPeriod:
        first = (month or days.today()).replace(day=1)
        period, _created = ReconciliationPeriod.objects.get_or_create(
            company=self.company, month=first
        )
        return period

    def report(self, number: str = "R-1", *, status: str = ReportStatus.MATCHED) -> ExpenseReport:
        if number not in self.reports:
            self.reports[number] = ExpenseReport.objects.create(
                company=self.company,
                created_by=self.finance,
                file_name=f"{number}.csv",
                status=status,
            )
        return self.reports[number]

    def line(
        self,
        amount: str,
        *,
        state: str = LineState.MATCHED,
        employee: str = "E001",
        report: str = "R-1",
        matched: list[tuple[CardTransaction, str]] | None = None,
        cost_center: str = "",
        date: datetime.date | None = None,
        duplicate_of: ExpenseLine | None = None,
        **extra: Any,
    ) -> ExpenseLine:
        """A claim line as matching left it, with its matches (transaction, amount claimed)."""
        period = self.period(date)
        row = next(_rows)
        matches = matched or []
        matched_amount = sum((Decimal(a) for _tx, a in matches), Decimal("0.00"))
        line = ExpenseLine.objects.create(
            report=self.report(report),
            company=self.company,
            period=period,
            row_number=row,
            report_number=report,
            line_number=str(row - 1),
            employee_id=employee,
            employee_name={"E001": "张三", "E002": "李四"}.get(employee, employee),
            expense_date=date or days.today(),
            amount=Decimal(amount),
            cost_center=cost_center or ("CC-10" if employee == "E001" else "CC-20"),
            category="meals",
            state=state,
            evidence=Evidence.EMPLOYEE if matches else Evidence.NONE,
            card=matches[0][0].card if matches else None,
            matched_amount=matched_amount,
            difference=Decimal(amount) - matched_amount,
            duplicate_of=duplicate_of,
            **extra,
        )
        for tx, part in matches:
            ExpenseMatch.objects.create(line=line, transaction=tx, amount=Decimal(part))
        return line


def books() -> Books:
    who = buyer()
    order = spend_data.issued(
        who,
        {"face_value": "500", "quantity": 2, "employee_id": "E001", "cost_center": "CC-10"},
        {"face_value": "500", "quantity": 1, "employee_id": "E002", "cost_center": "CC-20"},
    )
    cards: dict[str, list[Card]] = {"E001": [], "E002": []}
    for card in Card.objects.filter(batch__order=order).select_related("batch__line"):
        cards[card.batch.line.employee_id].append(card)
    key, _plain = merchant_key()
    return Books(company=who.company, people=who.people, cards=cards, key=key, shop=key.merchant)
