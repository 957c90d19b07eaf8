"""Payments under real concurrency on PostgreSQL: threads with their own connections start
together (a barrier) and contend for the same payment, invoice or pro-forma."""

# mypy: disable-error-code="union-attr, arg-type, index, misc, list-item"

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone, translation

from billing.models import Account, Allocation, Invoice, JournalEntry, Payment, Posting
from billing.money import ZERO
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.ledger import account_balance, account_get
from billing.services.payments import allocation_create, payment_record
from cards.models import Order, OrderStatus
from portal.models import Role
from tests import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


def together(works: list[Callable[[], Any]]) -> list[Any]:
    """Run each callable on its own thread and connection, all released at once; returns each
    result or the exception it raised."""
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)

    def run(index: int) -> None:
        try:
            with translation.override("en"):
                barrier.wait(timeout=30)
                results[index] = works[index]()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return results


def issue(company, amount: str, order: str) -> Invoice:
    value = Decimal(amount)
    line = InvoiceLineData(
        description="礼品卡", face_value=value, quantity=1, unit_price=value, amount=value
    )
    return invoice_issue(company=company, order_number=order, lines=[line], net_days=30, actor=None)


def unknown_payment(amount: str, reference: str) -> Payment:
    payment, _ = payment_record(
        bank_reference=reference,
        payer_name="陌生人",
        payer_account="999",
        amount=amount,
        received_on=timezone.localdate(),
        remittance="",
        actor=None,
    )
    return payment


def assert_books_agree(company) -> None:
    assert Posting.objects.aggregate(total=Sum("amount"))["total"] in (None, ZERO)
    open_balances = (
        Invoice.objects.filter(
            company=company,
            kind=Invoice.Kind.INVOICE,
            status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE],
        ).aggregate(total=Sum(F("total") - F("paid_amount")))["total"]
        or ZERO
    )
    assert account_balance(account_get(Account.Kind.RECEIVABLE, company)) == open_balances


def test_two_operators_allocating_one_payment_never_allocate_more_than_it(db) -> None:
    company = factories.company("厦门礼品有限公司")
    first = issue(company, "800.00", "PO1")
    second = issue(company, "800.00", "PO2")
    payment = unknown_payment("1000.00", "RACE-1")
    alice, bob = factories.operator(), factories.operator()
    results = together(
        [
            lambda: allocation_create(
                payment=payment, allocations=[(first, Decimal("800.00"))], actor=alice
            ),
            lambda: allocation_create(
                payment=payment, allocations=[(second, Decimal("800.00"))], actor=bob
            ),
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], ValidationError)
    assert "left to allocate" in str(errors[0])
    payment.refresh_from_db()
    assert (payment.allocated_amount, payment.status) == (Decimal("800.00"), Payment.Status.PARTIAL)
    assert Allocation.objects.aggregate(total=Sum("amount"))["total"] == Decimal("800.00")
    assert_books_agree(company)


def test_many_small_allocations_of_one_payment_stop_at_its_amount(db) -> None:
    company = factories.company("厦门礼品有限公司")
    invoices = [issue(company, "300.00", f"PO{n}") for n in range(6)]
    payment = unknown_payment("1000.00", "RACE-2")
    operators = [factories.operator() for _ in invoices]
    results = together(
        [
            (
                lambda invoice=invoice, actor=actor: allocation_create(
                    payment=payment, allocations=[(invoice, Decimal("300.00"))], actor=actor
                )
            )
            for invoice, actor in zip(invoices, operators, strict=True)
        ]
    )
    succeeded = [r for r in results if not isinstance(r, Exception)]
    assert len(succeeded) == 3
    assert all(isinstance(r, ValidationError) for r in results if isinstance(r, Exception))
    payment.refresh_from_db()
    assert payment.allocated_amount == Decimal("900.00")
    assert_books_agree(company)


def test_two_payments_covering_one_proforma_at_once_fund_the_order_once(db) -> None:
    company = factories.company("厦门礼品有限公司")
    purchaser = factories.member(company, Role.PURCHASER)
    card = factories.product(face_values=["500"])
    order = factories.submitted(
        company, purchaser, card=card, face_value="500", quantity=2, payment_method="bank_transfer"
    )
    proforma = order.proforma
    payments = [unknown_payment(str(proforma.total), f"RACE-P{n}") for n in range(2)]
    alice, bob = factories.operator(), factories.operator()
    results = together(
        [
            lambda: allocation_create(
                payment=payments[0], allocations=[(proforma, proforma.total)], actor=alice
            ),
            lambda: allocation_create(
                payment=payments[1], allocations=[(proforma, proforma.total)], actor=bob
            ),
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1, results
    assert "left to pay" in str(errors[0])
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_PAYMENT
    factories.run_funding_follow_ups()  # what the worker does after the commit
    order = Order.objects.get(pk=order.pk)
    assert order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING)
    assert Invoice.objects.filter(kind=Invoice.Kind.INVOICE, company=company).count() == 1
    assert JournalEntry.objects.filter(kind="payment_received").count() == 1
    assert account_balance(account_get(Account.Kind.CASH)) == proforma.total
    assert account_balance(account_get(Account.Kind.COMPANY_CREDIT, company)) == ZERO
    assert_books_agree(company)


def test_the_same_statement_line_recorded_at_once_by_two_imports_is_one_payment(db) -> None:
    company = factories.company("厦门礼品有限公司")
    invoice = issue(company, "500.00", "PO1")

    def record() -> tuple[Payment, bool]:
        return payment_record(
            bank_reference="SAME-LINE",
            payer_name="厦门礼品有限公司",
            payer_account="1",
            amount="500.00",
            received_on=timezone.localdate(),
            remittance=invoice.number,
            actor=None,
        )

    results = together([record, record])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(created for _, created in results) == [False, True]
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.paid_amount, invoice.status) == (Decimal("500.00"), Invoice.Status.PAID)
    assert_books_agree(company)
