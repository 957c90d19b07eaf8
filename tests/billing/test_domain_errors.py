"""Domain refusals are one family (portal.errors): the portal shows their message, the API answers
a 4xx with their code, never a 500. Invoices move only through their state machine."""

# mypy: disable-error-code="union-attr, arg-type, index, list-item"

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from billing import locks
from billing.models import Invoice, Payment
from billing.services.credit import CreditRefused
from billing.services.invoices import (
    TRANSITIONS,
    InvoiceLineData,
    InvoiceStateError,
    invoice_issue,
    invoice_move,
    invoice_void,
    proforma_mark_paid,
)
from billing.services.payments import allocation_create, payment_record
from cards.models import OrderStatus
from cards.services.workflow import OrderStateError
from portal.api.exceptions import api_exception_handler
from portal.errors import DomainError, StateConflict
from portal.models import Role
from tests import factories
from tests.api.helpers import Api, key_for
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

ROOT = Path(__file__).resolve().parents[2]


def issue(company, amount: str, order: str) -> Invoice:
    value = Decimal(amount)
    line = InvoiceLineData(
        description="礼品卡", face_value=value, quantity=1, unit_price=value, amount=value
    )
    return invoice_issue(company=company, order_number=order, lines=[line], net_days=30, actor=None)


def handled(exc: Exception):
    request = Request(APIRequestFactory().post("/api/v1/orders/x/cancel"))
    response = api_exception_handler(exc, {"request": request, "view": None})
    assert response is not None, f"{type(exc).__name__} would be a 500"
    return response


# --- One hierarchy --------------------------------------------------------------------------------


def test_every_money_refusal_is_a_domain_error_with_a_code() -> None:
    assert issubclass(CreditRefused, DomainError)
    assert issubclass(InvoiceStateError, StateConflict)
    assert issubclass(OrderStateError, StateConflict)
    assert issubclass(StateConflict, ValidationError)
    refused = CreditRefused("Not enough credit.", code="insufficient_credit")
    assert (refused.code, refused.messages) == ("insufficient_credit", ["Not enough credit."])
    assert InvoiceStateError("paid").code == "invoice_state"
    assert OrderStateError("funded").code == "order_state"


def test_the_api_answers_a_state_conflict_with_409_and_its_code() -> None:
    response = handled(InvoiceStateError("Pro-forma invoice PF-1 is paid.", code="proforma_paid"))
    assert response.status_code == 409
    assert response.data["code"] == "proforma_paid"
    assert response.data["detail"] == "Pro-forma invoice PF-1 is paid."


def test_the_api_answers_a_credit_refusal_with_400_and_its_code() -> None:
    response = handled(CreditRefused("Not enough credit.", code="insufficient_credit"))
    assert response.status_code == 400
    assert (response.data["code"], response.data["detail"]) == (
        "insufficient_credit",
        "Not enough credit.",
    )


def test_a_credit_refusal_reaches_the_api_client_as_400_with_its_code() -> None:
    company = factories.company(approval_threshold="100000.00")
    factories.credit_line(company, "100.00")
    factories.member(company, Role.OWNER)
    purchaser = factories.member(company, Role.PURCHASER)
    order = factories.draft(company, purchaser, face_value="100", quantity=5)
    api = Api(key_for(company, purchaser))
    response = api.post(f"/api/v1/orders/{order.number}/submit")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "insufficient_credit"


# --- A cancel that meets a payment ---------------------------------------------------------------


@pytest.fixture
def paid_not_yet_funded():
    """A bank-transfer order whose pro-forma a payment has just paid; the follow-up that funds
    the order (queued on the payment's commit) has not run yet."""
    company = factories.company("厦门礼品有限公司")
    owner = factories.member(company, Role.OWNER)
    purchaser = factories.member(company, Role.PURCHASER)
    order = factories.submitted(
        company, purchaser, face_value="500", quantity=2, payment_method="bank_transfer"
    )
    payment, _ = payment_record(
        bank_reference="LATE-1",
        payer_name="陌生人",
        payer_account="999",
        amount=str(order.proforma.total),
        received_on=timezone.localdate(),
        remittance="",
        actor=None,
    )
    assert payment.status == Payment.Status.UNMATCHED
    allocation_create(
        payment=payment,
        allocations=[(order.proforma, order.proforma.total)],
        actor=factories.operator(),
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    return order, owner, purchaser


def test_a_cancel_after_the_payment_is_refused_with_a_message_in_the_portal(
    paid_not_yet_funded,
) -> None:
    order, _owner, purchaser = paid_not_yet_funded
    client = Client(raise_request_exception=False)
    sign_in(client, purchaser, second_factor=False)
    response = client.post(f"/orders/{order.number}/cancel/", {"reason": "x"}, follow=True)
    assert response.status_code == 200
    assert "has just arrived" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    # Once the follow-up runs, the order is funded as paid for.
    factories.run_funding_follow_ups()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED


def test_a_cancel_after_the_payment_is_a_409_with_a_code_in_the_api(paid_not_yet_funded) -> None:
    order, owner, _purchaser = paid_not_yet_funded
    api = Api(key_for(order.company, owner))
    response = api.post(f"/api/v1/orders/{order.number}/cancel", {"reason": "x"})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "order_paid"
    assert "has just arrived" in response.json()["detail"]


# --- The invoice state machine -------------------------------------------------------------------


def test_illegal_invoice_moves_are_refused_by_the_one_move_function() -> None:
    company = factories.company()
    invoice = issue(company, "100.00", "PO1")
    credit_note = invoice_void(invoice=invoice, reason="cancelled", actor=None)
    invoice.refresh_from_db()
    with (
        transaction.atomic(),
        pytest.raises(InvoiceStateError, match="is Void; it cannot become Paid") as refused,
    ):
        invoice_move(locks.lock_invoice(invoice.pk), Invoice.Status.PAID)
    assert refused.value.code == "invoice_state"
    with transaction.atomic(), pytest.raises(InvoiceStateError):
        invoice_move(locks.lock_invoice(credit_note.pk), Invoice.Status.VOID)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID


def test_a_paid_proforma_is_final() -> None:
    company = factories.company()
    purchaser = factories.member(company, Role.PURCHASER)
    order = factories.submitted(company, purchaser, payment_method="bank_transfer")
    proforma_mark_paid(proforma=order.proforma, actor=None)
    assert TRANSITIONS[Invoice.Kind.PROFORMA][Invoice.Status.PAID] == frozenset()
    with pytest.raises(InvoiceStateError) as refused:
        invoice_void(invoice=order.proforma, reason="x", actor=None)
    assert refused.value.code == "proforma_paid"


def _status_updates_outside_the_machine(path: Path) -> list[str]:
    """``<...Invoice...>.update(status=...)`` calls outside ``invoice_move``."""
    tree = ast.parse(path.read_text())
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef) or function.name == "invoice_move":
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
                and any(keyword.arg == "status" for keyword in node.keywords)
                and "Invoice" in ast.unparse(node.func.value)
            ):
                found.append(f"{path.name}:{node.lineno} in {function.name}")
    return found


def test_nothing_but_invoice_move_writes_an_invoice_status() -> None:
    sources = [
        *sorted((ROOT / "billing" / "services").glob("*.py")),
        *sorted((ROOT / "cards" / "services").glob("*.py")),
    ]
    found = [hit for path in sources for hit in _status_updates_outside_the_machine(path)]
    assert found == []


# --- The lock order -----------------------------------------------------------------------------


def test_a_lock_against_the_global_order_is_refused_at_once() -> None:
    company = factories.company()
    invoice = issue(company, "100.00", "PO1")
    payment, _ = payment_record(
        bank_reference="ORDER-1",
        payer_name="陌生人",
        payer_account="999",
        amount="100.00",
        received_on=timezone.localdate(),
        remittance="",
        actor=None,
    )
    with transaction.atomic():
        locks.lock_payment(payment.pk)
        locks.lock_company_accounts(company)
        locks.lock_invoices([invoice.pk])
        with pytest.raises(locks.LockOrderViolation, match=r"PAYMENT .* after INVOICE"):
            locks.lock_payment(payment.pk + 1)
    with transaction.atomic():
        locks.lock_invoices([invoice.pk])
        locks.note_invoice_number(series="INV", year=2026)
        with pytest.raises(locks.LockOrderViolation, match=r"INVOICE .* after INVOICE_NUMBER"):
            locks.lock_invoices([invoice.pk + 1])


def test_both_design_notes_state_the_order_the_module_enforces() -> None:
    assert [rank.name for rank in sorted(locks.Rank)] == [
        "COMPANY",
        "ORDER",
        "CREDIT_LINE",
        "PAYMENT",
        "COMPANY_ACCOUNTS",
        "INVOICE",
        "INVOICE_NUMBER",
    ]
    order = (
        "company row → order row → credit line → payment → the company's ledger accounts "
        "(credit account) → invoices by id → invoice-number sequence row (last, just before "
        "commit)"
    )
    for note in ("ordering.md", "architecture.md"):
        text = " ".join((ROOT / "docs" / note).read_text().split())
        assert order in text, note
