"""The two deadlocks of issue 11, raced for real on PostgreSQL, many times over.

(a) A buyer cancels a bank-transfer order (portal view) while an operator allocates a payment to
its pro-forma invoice. The cancel locked the order, then the pro-forma; the payment locked the
pro-forma, then (through a signal inside its transaction) the order.

(b) A buyer submits a credit order (portal view) while an operator allocates a payment that pays
a pro-forma of the same company. The credit order took the invoice-number sequence row, then the
company's credit account; the allocation held the credit account, then needed the sequence row.

Each iteration prepares its rows serially, then releases both sides at once (a barrier). Every
outcome must be a success or a clear refusal: no deadlock, no 500, and the books balance.
"""

# mypy: disable-error-code="union-attr, arg-type, index, misc, list-item"

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Sum
from django.test import Client
from django.utils import timezone, translation
from pytest_django.fixtures import Settings

from billing.models import Account, Invoice, Payment, Posting
from billing.money import ZERO
from billing.services.ledger import account_balance, account_get
from billing.services.payments import allocation_create, payment_record
from billing.services.receivables import ledger_check_run
from cards.models import Order, OrderStatus
from cards.services.workflow import order_cancel
from portal.models import Role
from tests import factories
from tests.conftest import sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing", "no_celery_worker"),
]

ROUNDS = 20
BUDGET_SECONDS = 15  # per race: the rounds stop early rather than run long on a busy machine


@pytest.fixture(autouse=True)
def no_review_limits(settings: Settings) -> None:
    """Many orders of one company on one day: keep them out of risk review."""
    settings.ORDER_VELOCITY_MAX_COUNT = 10**6
    settings.ORDER_VELOCITY_MAX_VALUE = Decimal("1000000000.00")
    settings.ORDER_STRUCTURING_COUNT = 10**6


def together(works: list[Callable[[], Any]]) -> list[Any]:
    """Each callable on its own thread and connection, all released at once; each result or the
    exception it raised."""
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


def page_text(response: Any) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def portal_client(user: Any) -> Client:
    """A purchaser's browser; a server error comes back as a 500 page, not as an exception."""
    client = Client(raise_request_exception=False)
    sign_in(client, user, second_factor=False)
    return client


def post_and_follow(client: Client, path: str, data: dict[str, str]) -> tuple[int, str]:
    """The POST's own status (a 500 shows here) and the text of the page it leads to."""
    response = client.post(path, data)
    if response.status_code != 302:
        return response.status_code, page_text(response)
    return 302, page_text(client.get(response["Location"]))


def cancel_directly(order: Any, actor: Any) -> tuple[int, str]:
    """The cancel service as the view calls it, answered as the view would."""
    try:
        order_cancel(order=order, actor=actor, reason="ordered twice")
    except ValidationError as exc:
        return 302, " ".join(exc.messages)
    return 302, f"Order {order.number} cancelled."


def unknown_payment(amount: Decimal, reference: str, round_: int) -> Payment:
    """A payment from a payer seen for the first time: it waits for an operator."""
    payment, _ = payment_record(
        bank_reference=reference,
        payer_name=f"陌生人{round_}",
        payer_account=f"999{round_}",
        amount=str(amount),
        received_on=timezone.localdate(),
        remittance="",
        actor=None,
    )
    assert payment.status == Payment.Status.UNMATCHED
    return payment


def assert_books_balance(company: Any) -> None:
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
    run = ledger_check_run()
    assert run.ok, run.results


def test_a_cancel_racing_a_payment_of_its_proforma_never_deadlocks(db) -> None:
    company = factories.company("厦门礼品有限公司")
    purchaser = factories.member(company, Role.PURCHASER)
    card = factories.product(face_values=["500"])
    ops = factories.operator()
    client = portal_client(purchaser)
    outcomes = {"cancelled": 0, "paid": 0}
    started = time.monotonic()
    for round_ in range(ROUNDS):
        if round_ >= 5 and time.monotonic() - started > BUDGET_SECONDS:
            break
        order = factories.submitted(
            company, purchaser, card=card, face_value="500", quantity=2,
            payment_method="bank_transfer",
        )  # fmt: skip
        proforma = order.proforma
        payment = unknown_payment(proforma.total, f"RACE-A{round_}", round_)

        # Every other round calls the service straight away (the tightest timing); the others
        # go through the portal view, where a deadlock or a refusal that escapes is a 500.
        via_view = round_ % 2 == 0
        cancel, allocate = together(
            [
                lambda order=order, via_view=via_view: (
                    post_and_follow(
                        client, f"/orders/{order.number}/cancel/", {"reason": "ordered twice"}
                    )
                    if via_view
                    else cancel_directly(order, purchaser)
                ),
                lambda payment=payment, proforma=proforma: allocation_create(
                    payment=payment, allocations=[(proforma, proforma.total)], actor=ops
                ),
            ]
        )

        assert not isinstance(cancel, Exception), cancel
        status, text = cancel
        assert status == 302, f"round {round_}: the cancel answered {status}: {text[:300]}"
        order.refresh_from_db()
        proforma.refresh_from_db()
        payment.refresh_from_db()
        if order.status == OrderStatus.CANCELLED and isinstance(allocate, Exception):
            # The cancel came first: the pro-forma is withdrawn, the payment waits for an operator.
            assert f"Order {order.number} cancelled." in text
            assert isinstance(allocate, ValidationError), allocate
            assert "is void" in str(allocate)
            assert proforma.status == Invoice.Status.VOID
            assert payment.status == Payment.Status.UNMATCHED
            outcomes["cancelled"] += 1
        elif order.status == OrderStatus.CANCELLED:
            # Paid, funded, then cancelled: the invoice is voided, the money is company credit.
            assert f"Order {order.number} cancelled." in text
            assert order.invoice.status == Invoice.Status.VOID
            outcomes["paid"] += 1
        else:
            # The payment came first: the cancel is refused with a message that says why.
            assert not isinstance(allocate, Exception), allocate
            assert "has just arrived" in text, text[:300]
            assert proforma.status == Invoice.Status.PAID
            assert order.status == OrderStatus.AWAITING_PAYMENT
            assert factories.run_funding_follow_ups() == [order]
            order.refresh_from_db()
            assert order.status == OrderStatus.FUNDED
            outcomes["paid"] += 1
    assert sum(outcomes.values()) >= 5, outcomes
    assert_books_balance(company)


def test_a_credit_order_racing_a_payment_of_a_proforma_never_deadlocks(db) -> None:
    company = factories.company("厦门礼品有限公司")
    factories.credit_line(company, "1000000.00")
    purchaser = factories.member(company, Role.PURCHASER)
    card = factories.product(face_values=["500"])
    ops = factories.operator()
    client = portal_client(purchaser)
    started = time.monotonic()
    rounds = 0
    for round_ in range(ROUNDS):
        if round_ >= 5 and time.monotonic() - started > BUDGET_SECONDS:
            break
        prepaid = factories.submitted(
            company, purchaser, card=card, face_value="500", quantity=2,
            payment_method="bank_transfer",
        )  # fmt: skip
        proforma = prepaid.proforma
        # A little more than the pro-forma: the rest is kept as the company's credit, which the
        # new credit order's invoice then uses.
        payment = unknown_payment(proforma.total + Decimal("10.00"), f"RACE-B{round_}", round_)
        on_credit = factories.draft(
            company, purchaser, card=card, face_value="500", quantity=2, payment_method="credit"
        )

        submit, allocate = together(
            [
                lambda on_credit=on_credit: post_and_follow(
                    client, f"/orders/{on_credit.number}/submit/", {}
                ),
                lambda payment=payment, proforma=proforma: allocation_create(
                    payment=payment,
                    allocations=[(proforma, proforma.total)],
                    to_credit=Decimal("10.00"),
                    actor=ops,
                ),
            ]
        )

        assert not isinstance(submit, Exception), submit
        status, text = submit
        assert status == 302, f"round {round_}: the submit answered {status}: {text[:300]}"
        assert not isinstance(allocate, Exception), f"round {round_}: {allocate!r}"
        on_credit.refresh_from_db()
        proforma.refresh_from_db()
        assert on_credit.status == OrderStatus.FUNDED, text[:300]
        assert proforma.status == Invoice.Status.PAID
        assert factories.run_funding_follow_ups() == [prepaid]
        rounds += 1
    assert rounds >= 5
    numbers = list(
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert numbers == list(range(1, len(numbers) + 1))  # still gapless
    assert_books_balance(company)


def test_paying_a_proforma_never_waits_for_its_order_row(db) -> None:
    """The order is funded after the payment commits, in a transaction of its own: while another
    connection holds the order row (a cancel, an approval screen), the payment still goes
    through at once, and the order is funded afterwards."""
    company = factories.company("厦门礼品有限公司")
    purchaser = factories.member(company, Role.PURCHASER)
    order = factories.submitted(company, purchaser, payment_method="bank_transfer")
    proforma = order.proforma
    payment = unknown_payment(proforma.total, "WAIT-1", 0)
    holding, release = threading.Event(), threading.Event()

    def hold_the_order_row() -> None:
        with transaction.atomic():
            Order.objects.select_for_update().get(pk=order.pk)
            holding.set()
            release.wait(timeout=60)

    def pay_without_waiting() -> Any:
        assert holding.wait(timeout=30)
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '5s'")
                return allocation_create(
                    payment=payment, allocations=[(proforma, proforma.total)], actor=None
                )
        finally:
            release.set()

    _held, paid = together([hold_the_order_row, pay_without_waiting])
    assert not isinstance(paid, Exception), paid
    proforma.refresh_from_db()
    assert proforma.status == Invoice.Status.PAID
    assert factories.run_funding_follow_ups() == [order]
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert_books_balance(company)
