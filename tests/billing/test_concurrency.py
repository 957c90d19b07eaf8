"""Races on PostgreSQL with real concurrent connections.

Each worker is a thread with its own database connection (Django's connections are per thread),
released with ``connection.close()`` when the thread ends. A ``threading.Barrier`` makes the
workers start together, so they really contend for the same rows: the credit line, the order, the
invoice sequence. The orders are prepared serially first; only the contended step races.

PostgreSQL's default ``max_connections`` is 100 and other test runs may share the server, so the
200-approval race runs on a pool of ``POOL`` threads that pull orders from one queue, and every
race takes no more connections than the server has free.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone, translation
from pytest_django.fixtures import Settings

from billing.models import Account, Invoice, InvoiceSequence, JournalEntry, Posting
from billing.money import ZERO
from billing.services.credit import credit_position
from billing.services.invoices import InvoiceLineData, invoice_issue
from cards.models import CardProduct, Order, OrderStatus
from cards.services.orders import LineInput, order_create
from cards.services.workflow import OrderStateError, order_approve, order_submit
from portal.models import Company, Role, User
from tests import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing", "no_celery_worker"),
]

POOL = 24  # concurrent connections; well under max_connections even beside other test runs
OPEN = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)


def connections_free(wanted: int) -> int:
    """``wanted`` threads, or fewer if the server is short of connections (keeping a margin)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        )
        row = cursor.fetchone()
    free = int(row[0]) if row else wanted
    return max(4, min(wanted, free - 10))


@dataclass
class Outcome:
    job: Any
    result: Any = None
    error: BaseException | None = None


def race(jobs: list[Any], work: Callable[[Any], Any], *, threads: int) -> list[Outcome]:
    """Run ``work(job)`` for every job on ``threads`` threads that start together; each thread
    uses its own connection and closes it at the end. Returns one outcome per job."""
    todo: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    threads = connections_free(threads)
    barrier = threading.Barrier(threads)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with translation.override("en"):
                barrier.wait(timeout=30)
                while True:
                    try:
                        job = todo.get_nowait()
                    except queue.Empty:
                        return
                    outcome = Outcome(job=job)
                    try:
                        outcome.result = work(job)
                    except Exception as exc:
                        outcome.error = exc
                    with lock:
                        outcomes.append(outcome)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, name=f"race-{n}") for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in pool), "a racing thread hung"
    assert len(outcomes) == len(jobs)
    return outcomes


def unexpected(outcomes: list[Outcome], *allowed: Callable[[BaseException], bool]) -> list[str]:
    """Errors that none of the ``allowed`` predicates accept (deadlocks, serialisation failures,
    integrity errors...), as readable lines for the assertion message."""
    return [
        f"{type(o.error).__name__}: {o.error}"
        for o in outcomes
        if o.error is not None and not any(accept(o.error) for accept in allowed)
    ]


def is_insufficient_credit(exc: BaseException) -> bool:
    return isinstance(exc, ValidationError) and getattr(exc, "code", None) == (
        "insufficient_credit"
    )


def is_not_waiting(exc: BaseException) -> bool:
    return isinstance(exc, OrderStateError) and "not waiting for approval" in str(exc)


def assert_ledger_balanced() -> None:
    """Every entry sums to zero, so all postings do; each company's receivable equals its open
    invoice balances."""
    assert Posting.objects.aggregate(total=Sum("amount"))["total"] in (None, ZERO)
    unbalanced = (
        JournalEntry.objects.annotate(total=Sum("postings__amount")).exclude(total=ZERO).count()
    )
    assert unbalanced == 0
    for company in Company.objects.all():
        receivable = (
            Posting.objects.filter(
                account__kind=Account.Kind.RECEIVABLE, account__company=company
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        open_balance = (
            Invoice.objects.filter(
                company=company, kind=Invoice.Kind.INVOICE, status__in=OPEN
            ).aggregate(total=Sum(F("total") - F("paid_amount")))["total"]
            or ZERO
        )
        assert receivable == open_balance, company.legal_name


@pytest.fixture
def no_velocity_review(settings: Settings) -> None:
    """Hundreds of orders a day from one company would otherwise go to operator review."""
    settings.ORDER_VELOCITY_MAX_COUNT = 100_000
    settings.ORDER_VELOCITY_MAX_VALUE = Decimal("999999999.00")


def pending_orders(
    company: Company, purchaser: User, product: CardProduct, count: int
) -> Iterator[int]:
    """``count`` credit orders of 1,000.00 each, submitted and waiting for approval (ids)."""
    for _ in range(count):
        order = order_create(
            company=company,
            actor=purchaser,
            lines=[LineInput(product=product, face_value="1000", quantity=1)],
        )
        order = order_submit(order=order, actor=purchaser)
        assert order.status == OrderStatus.PENDING_APPROVAL
        yield order.pk


def approve(order_id: int, approver: User) -> Order:
    order = Order.objects.select_related("company").get(pk=order_id)
    return order_approve(order=order, actor=approver)


@pytest.mark.usefixtures("no_velocity_review")
def test_200_concurrent_approvals_of_1000_against_100000_line_accept_exactly_100() -> None:
    company = factories.company(approval_threshold="500.00")
    purchaser = factories.member(company, Role.PURCHASER)
    approvers = [factories.member(company, Role.APPROVER) for _ in range(4)]
    factories.credit_line(company, "100000.00")
    product = factories.product()
    order_ids = list(pending_orders(company, purchaser, product, 200))
    jobs = [(order_id, approvers[n % len(approvers)]) for n, order_id in enumerate(order_ids)]

    outcomes = race(jobs, lambda job: approve(*job), threads=POOL)

    assert unexpected(outcomes, is_insufficient_credit) == []
    accepted = {o.job[0] for o in outcomes if o.error is None}
    refused = [o for o in outcomes if o.error is not None]
    assert len(accepted) == 100
    assert len(refused) == 100
    # A refusal shows what is left: nothing, as a 1,000 order is refused only on a spent line.
    assert {
        (o.error.params or {}).get("available")
        for o in refused
        if isinstance(o.error, ValidationError)
    } == {ZERO}
    statuses = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "status"))
    assert {statuses[pk] for pk in accepted} == {OrderStatus.FUNDED}
    assert {statuses[o.job[0]] for o in refused} == {OrderStatus.PENDING_APPROVAL}
    assert not Order.objects.filter(pk__in=[o.job[0] for o in refused], invoice__isnull=False)
    invoices = Invoice.objects.filter(company=company, kind=Invoice.Kind.INVOICE)
    assert invoices.count() == 100
    assert invoices.aggregate(total=Sum("total"))["total"] == Decimal("100000.00")
    assert set(
        Order.objects.filter(pk__in=accepted).values_list("invoice__order_number", flat=True)
    ) == set(Order.objects.filter(pk__in=accepted).values_list("number", flat=True))
    assert sorted(invoices.values_list("sequence", flat=True)) == list(range(1, 101))
    position = credit_position(company)
    assert position is not None
    assert position.available == ZERO
    assert_ledger_balanced()


@pytest.mark.usefixtures("no_velocity_review")
def test_two_approvers_approving_the_same_order_at_once_approve_it_once() -> None:
    company = factories.company(approval_threshold="500.00")
    purchaser = factories.member(company, Role.PURCHASER)
    first, second = (factories.member(company, Role.APPROVER) for _ in range(2))
    factories.credit_line(company, "100000.00")
    product = factories.product()
    # Ten orders, each raced by both approvers at once: twenty connections on ten order rows.
    order_ids = list(pending_orders(company, purchaser, product, 10))
    jobs = [(order_id, approver) for order_id in order_ids for approver in (first, second)]

    outcomes = race(jobs, lambda job: approve(*job), threads=len(jobs))

    assert unexpected(outcomes, is_not_waiting) == []
    for order_id in order_ids:
        mine = [o for o in outcomes if o.job[0] == order_id]
        assert sorted(o.error is None for o in mine) == [False, True]
        order = Order.objects.get(pk=order_id)
        assert order.status == OrderStatus.FUNDED
        winner = next(o.job[1] for o in mine if o.error is None)
        assert order.approved_by_id == winner.pk
        assert (
            Invoice.objects.filter(
                company=company, kind=Invoice.Kind.INVOICE, order_number=order.number
            ).count()
            == 1
        )
    assert Invoice.objects.filter(company=company).count() == 10
    assert_ledger_balanced()


def sale_line() -> list[InvoiceLineData]:
    return [
        InvoiceLineData(
            description="Gift card, face value ¥500.00",
            face_value=Decimal("500.00"),
            quantity=2,
            unit_price=Decimal("500.0000"),
            amount=Decimal("1000.00"),
        )
    ]


def issue(job: tuple[int, Company]) -> Invoice:
    n, company = job
    return invoice_issue(
        company=company, order_number=f"PO-RACE-{n:03d}", lines=sale_line(), net_days=30, actor=None
    )


def test_50_concurrent_invoice_issues_get_unique_gapless_numbers() -> None:
    companies = [factories.company() for _ in range(5)]
    year = timezone.localdate().year
    jobs = [(n, companies[n % len(companies)]) for n in range(50)]

    outcomes = race(jobs, issue, threads=len(jobs))

    assert unexpected(outcomes) == []
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
    assert invoices.count() == 50
    assert {invoice.year for invoice in invoices} == {year}
    assert sorted(invoices.values_list("sequence", flat=True)) == list(range(1, 51))
    assert sorted(invoices.values_list("number", flat=True)) == [
        f"INV-{year}-{n:06d}" for n in range(1, 51)
    ]
    assert {o.result.number for o in outcomes} == set(invoices.values_list("number", flat=True))
    assert InvoiceSequence.objects.get(series="INV", year=year).last == 50
    assert_ledger_balanced()


class RolledBack(Exception):
    pass


def issue_then_maybe_roll_back(job: tuple[int, Company]) -> Invoice:
    """Every third issue runs inside a transaction that fails after the number was taken."""
    n, _company = job
    if n % 3:
        return issue(job)
    with transaction.atomic():
        issue(job)
        raise RolledBack(n)


def test_numbers_of_rolled_back_issues_are_given_back_under_concurrency() -> None:
    companies = [factories.company() for _ in range(3)]
    year = timezone.localdate().year
    jobs = [(n, companies[n % len(companies)]) for n in range(30)]

    outcomes = race(jobs, issue_then_maybe_roll_back, threads=len(jobs))

    assert unexpected(outcomes, lambda exc: isinstance(exc, RolledBack)) == []
    committed = sum(1 for o in outcomes if o.error is None)
    assert committed == 20
    assert sorted(
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE, year=year).values_list(
            "sequence", flat=True
        )
    ) == list(range(1, committed + 1))
    assert_ledger_balanced()


def test_ledger_check_sees_an_unbalanced_receivable() -> None:
    """The invariant check above is not vacuous: an open invoice with no posting breaks it."""
    company = factories.company()
    Invoice.objects.create(
        kind=Invoice.Kind.INVOICE,
        number="INV-1999-000001",
        year=1999,
        sequence=1,
        company=company,
        order_number="PO-X",
        buyer_name=company.legal_name,
        buyer_credit_code=company.credit_code,
        issue_date=date(1999, 1, 1),
        face_total=Decimal("10.00"),
        total=Decimal("10.00"),
    )
    with pytest.raises(AssertionError):
        assert_ledger_balanced()
