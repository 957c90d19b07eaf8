"""Builders for statement tests: ledger entries and cards at chosen instants (the services
stamp "now"; a statement covers finished days, so its tests need the past)."""

from __future__ import annotations

import datetime
import itertools
import os
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from billing.models import Account, Invoice, JournalEntry, Posting
from billing.services.ledger import account_get
from cards.models import Batch, Card, Order
from portal.models import Company, User
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@transaction.atomic
def post(
    company: Company, *, kind: str, amount: str, at: datetime.datetime, reference: str = ""
) -> JournalEntry:
    """One entry on the company's receivable (debit when positive) against cash."""
    n = next(_numbers)
    reference = reference or f"{kind}-{n}"
    entry = JournalEntry.objects.create(
        created_at=at,
        kind=kind,
        idempotency_key=f"test:{kind}:{n}:{company.pk}",
        company=company,
        reference=reference,
    )
    value = Decimal(amount)
    Posting.objects.bulk_create(
        [
            Posting(
                entry=entry, account=account_get(Account.Kind.RECEIVABLE, company), amount=value
            ),
            Posting(entry=entry, account=account_get(Account.Kind.CASH), amount=-value),
        ]
    )
    return entry


@transaction.atomic
def invoice(
    company: Company, *, total: str, issued: datetime.datetime, due_days: int = 30
) -> Invoice:
    """A sale invoice row and its ledger entry at ``issued``."""
    n = next(_numbers)
    number = f"INV-T-{n:06d}-{company.pk}"
    row = Invoice.objects.create(
        kind=Invoice.Kind.INVOICE,
        number=number,
        year=issued.year,
        sequence=900_000 + n,
        company=company,
        order_number=f"PO-{n}",
        buyer_name=company.legal_name,
        buyer_credit_code=company.credit_code,
        issue_date=issued.astimezone(SHANGHAI).date(),
        due_date=issued.astimezone(SHANGHAI).date() + datetime.timedelta(days=due_days),
        face_total=Decimal(total),
        total=Decimal(total),
    )
    post(company, kind="invoice_issued", amount=total, at=issued, reference=number)
    return row


def cards(
    company: Company,
    actor: User,
    *,
    count: int,
    at: datetime.datetime,
    face_value: str = "100",
    recipient: str = "",
    cost_center: str = "",
) -> Order:
    """``count`` cards of one new order, issued at ``at`` (rows written directly)."""
    order = factories.draft(company, actor, face_value=face_value, quantity=count)
    line = order.lines.get()
    if recipient or cost_center:
        line.recipient_name = recipient
        line.cost_center = cost_center
        line.employee_id = "E-7"
        line.save()
    first = 10_000_000 + next(_numbers) * 100_000
    batch = Batch.objects.create(
        order=order,
        line=line,
        company=company,
        product=line.product,
        face_value=Decimal(face_value),
        quantity=count,
        first_serial=first,
        chunk_size=count,
        chunk_count=1,
    )
    Card.objects.bulk_create(
        Card(
            serial=first + i,
            batch=batch,
            digest=os.urandom(32),
            key_id="k1",
            ciphertext=os.urandom(40),
            last4="WXYZ",
            face_value=Decimal(face_value),
            balance=Decimal(face_value),
            created_at=at,
        )
        for i in range(count)
    )
    return order
