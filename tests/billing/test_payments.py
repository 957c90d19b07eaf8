"""Payments: recording once, matching by reference and by unique amount, operators' allocation,
company credit, reversal, and the prepay release of bank-transfer orders."""

# mypy: disable-error-code="union-attr, arg-type, index, misc, list-item"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F, Sum
from django.utils import timezone

from billing.audit import BillingAction
from billing.models import Account, Allocation, Invoice, JournalEntry, Payment, Posting
from billing.money import ZERO
from billing.services.invoices import InvoiceLineData, invoice_issue, invoice_void
from billing.services.ledger import account_balance, account_get
from billing.services.payments import (
    allocation_create,
    allocation_reverse,
    company_credit_apply,
    company_credit_available,
    payment_auto_match,
    payment_record,
)
from cards.models import OrderStatus
from portal.models import AuditEvent, Role
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

TODAY = timezone.localdate()


def lines(amount: str) -> list[InvoiceLineData]:
    value = Decimal(amount)
    return [
        InvoiceLineData(
            description="礼品卡",
            face_value=value,
            quantity=1,
            unit_price=value,
            amount=value,
        )
    ]


def issue(company, amount: str, order: str = "PO1") -> Invoice:
    return invoice_issue(
        company=company, order_number=order, lines=lines(amount), net_days=30, actor=None
    )


def pay(amount: str, reference: str = "", **kwargs) -> Payment:
    data = {
        "bank_reference": reference or f"B{amount}{kwargs.get('remittance', '')}",
        "payer_name": "厦门礼品有限公司",
        "payer_account": "6222 0000 1111",
        "amount": amount,
        "received_on": TODAY,
        "remittance": "",
        "actor": None,
    }
    data.update(kwargs)
    payment, _created = payment_record(**data)
    return payment


@pytest.fixture
def company():
    return factories.company("厦门礼品有限公司")


@pytest.fixture
def ops():
    return factories.operator()


def receivable(company) -> Decimal:
    return account_balance(account_get(Account.Kind.RECEIVABLE, company))


def assert_books_agree(company) -> None:
    """The ledger sums to zero and the receivable equals the open invoices' balances."""
    assert Posting.objects.aggregate(total=Sum("amount"))["total"] in (None, ZERO)
    open_balances = (
        Invoice.objects.filter(
            company=company,
            kind=Invoice.Kind.INVOICE,
            status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE],
        ).aggregate(total=Sum(F("total") - F("paid_amount")))["total"]
        or ZERO
    )
    assert receivable(company) == open_balances
    for payment in Payment.objects.all():
        total = payment.allocations.aggregate(total=Sum("amount"))["total"] or ZERO
        assert payment.allocated_amount == total


# --- Recording ----------------------------------------------------------------------------------


def test_the_same_bank_line_recorded_twice_is_one_payment(company) -> None:
    first, created = payment_record(
        bank_reference="2026 0131 0001",
        payer_name="某公司",
        payer_account="1",
        amount=Decimal("10.00"),
        received_on=TODAY,
        remittance="",
        actor=None,
    )
    again, created_again = payment_record(
        # Full-width digits, no spaces: the same reference.
        bank_reference="\uff12\uff10\uff12\uff1601310001",
        payer_name="某公司",
        payer_account="1",
        amount=Decimal("10.00"),
        received_on=TODAY,
        remittance="",
        actor=None,
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert AuditEvent.objects.filter(action=BillingAction.PAYMENT_RECORDED).count() == 1


def test_without_a_bank_reference_the_line_itself_identifies_the_payment(company) -> None:
    one = pay("10.00", reference=" ", remittance="货款")
    two = pay("10.00", reference=" ", remittance="货款")
    three = pay("10.00", reference=" ", remittance="另一笔")
    assert one.pk == two.pk != three.pk


def test_a_payment_amount_must_be_positive(company) -> None:
    with pytest.raises(ValidationError, match="more than zero"):
        pay("0.00")
    with pytest.raises(ValidationError, match="not an amount"):
        pay("1e3")


# --- Matching -----------------------------------------------------------------------------------


def test_a_payment_naming_the_invoice_pays_it(company) -> None:
    invoice = issue(company, "1000.00")
    number = invoice.number.lower().replace("-", " - ")
    payment = pay("1000.00", remittance=f"付款 {number} 谢谢")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_amount) == (Invoice.Status.PAID, Decimal("1000.00"))
    assert (payment.status, payment.company) == (Payment.Status.ALLOCATED, company)
    allocation = payment.allocations.get()
    assert allocation.method == Allocation.Method.REFERENCE
    assert receivable(company) == ZERO
    assert account_balance(account_get(Account.Kind.CASH)) == Decimal("1000.00")
    assert_books_agree(company)


def test_full_width_invoice_numbers_are_recognised(company) -> None:
    invoice = issue(company, "500.00")
    full_width = invoice.number.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789-INV"})
    pay("500.00", remittance=f"货款{full_width}")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_one_payment_naming_two_invoices_pays_both_and_keeps_the_rest_as_credit(
    company,
) -> None:
    first = issue(company, "300.00", "PO1")
    second = issue(company, "200.00", "PO2")
    payment = pay("600.00", remittance=f"{first.number},{second.number}")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == Invoice.Status.PAID
    assert company_credit_available(company) == Decimal("100.00")
    kinds = sorted(payment.allocations.values_list("kind", "amount"))
    assert kinds == [
        ("invoice", Decimal("200.00")),
        ("invoice", Decimal("300.00")),
        ("to_credit", Decimal("100.00")),
    ]
    assert_books_agree(company)


def test_a_payment_for_less_leaves_the_invoice_open_with_its_balance(company) -> None:
    invoice = issue(company, "1000.00")
    pay("400.00", remittance=invoice.number)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_due) == (Invoice.Status.OPEN, Decimal("600.00"))
    assert receivable(company) == Decimal("600.00")
    assert_books_agree(company)


def test_a_unique_open_amount_of_a_known_payer_is_matched(company) -> None:
    first = issue(company, "120.00", "PO1")
    pay("120.00", reference="R1", remittance=first.number, payer_name="别名")
    second = issue(company, "777.00", "PO2")
    issue(company, "888.00", "PO3")
    # No reference, a payer name the company never used, but the account it paid from before.
    payment = pay("777.00", reference="R2", payer_name="其他名称", payer_account="62220000 1111")
    second.refresh_from_db()
    assert second.status == Invoice.Status.PAID
    assert payment.allocations.get().method == Allocation.Method.AMOUNT


def test_the_company_legal_name_identifies_a_first_time_payer(company) -> None:
    invoice = issue(company, "250.00")
    payment = pay("250.00", payer_account="new account")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert payment.company == company


def test_two_open_invoices_of_the_same_amount_leave_the_payment_in_the_queue(company) -> None:
    issue(company, "500.00", "PO1")
    issue(company, "500.00", "PO2")
    payment = pay("500.00")
    assert (payment.status, payment.company) == (Payment.Status.UNMATCHED, None)
    assert not Allocation.objects.exists()
    assert Payment.objects.filter(status=Payment.Status.UNMATCHED).count() == 1


def test_an_unknown_payer_stays_unmatched(company) -> None:
    issue(company, "500.00")
    payment = pay("500.00", payer_name="陌生人", payer_account="999")
    assert payment.status == Payment.Status.UNMATCHED
    assert payment_auto_match(payment=payment) == []


# --- Operators' allocation ----------------------------------------------------------------------


def test_an_operator_splits_a_payment_over_invoices_and_keeps_the_rest_as_credit(
    company, ops
) -> None:
    first = issue(company, "300.00", "PO1")
    second = issue(company, "500.00", "PO2")
    payment = pay("1000.00", payer_name="陌生人", payer_account="999")
    created = allocation_create(
        payment=payment,
        allocations=[(first, Decimal("300.00")), (second, Decimal("200.00"))],
        to_credit=Decimal("100.00"),
        actor=ops,
    )
    payment.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert [a.kind for a in created] == ["invoice", "invoice", "to_credit", "credit_use"]
    assert (payment.status, payment.unallocated, payment.company) == (
        Payment.Status.PARTIAL,
        Decimal("400.00"),
        company,
    )
    assert first.status == Invoice.Status.PAID
    # The credit is not left idle while an invoice is open: it pays part of the second one.
    assert (second.status, second.balance_due) == (Invoice.Status.OPEN, Decimal("200.00"))
    assert company_credit_available(company) == ZERO
    event = AuditEvent.objects.filter(action=BillingAction.PAYMENT_ALLOCATED).latest("id")
    assert event.actor == ops
    assert_books_agree(company)


def test_credit_is_used_on_open_invoices_oldest_first(company, ops) -> None:
    older = issue(company, "100.00", "PO1")
    newer = issue(company, "100.00", "PO2")
    payment = pay("150.00", payer_name="陌生人", payer_account="999")
    allocation_create(
        payment=payment, allocations=[], to_credit=Decimal("150.00"), actor=ops, company=company
    )
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.status == Invoice.Status.PAID
    assert (newer.status, newer.balance_due) == (Invoice.Status.OPEN, Decimal("50.00"))
    assert company_credit_available(company) == ZERO
    uses = Allocation.objects.filter(kind=Allocation.Kind.CREDIT_USE).order_by("id")
    assert [(u.invoice, u.amount) for u in uses] == [
        (older, Decimal("100.00")),
        (newer, Decimal("50.00")),
    ]
    assert_books_agree(company)


def test_an_overpayment_pays_the_next_invoice_when_it_is_issued(company, ops) -> None:
    invoice = issue(company, "800.00")
    pay("1000.00", remittance=invoice.number)
    assert company_credit_available(company) == Decimal("200.00")
    nxt = issue(company, "500.00", "PO2")
    assert (nxt.status, nxt.balance_due) == (Invoice.Status.OPEN, Decimal("300.00"))
    assert company_credit_available(company) == ZERO
    assert account_balance(account_get(Account.Kind.COMPANY_CREDIT, company)) == ZERO
    assert_books_agree(company)


def test_a_payment_is_never_allocated_beyond_its_amount(company, ops) -> None:
    first = issue(company, "800.00", "PO1")
    second = issue(company, "800.00", "PO2")
    payment = pay("1000.00", payer_name="陌生人", payer_account="999")
    with pytest.raises(ValidationError, match=r"has ¥1,000\.00 left to allocate; ¥1,600\.00"):
        allocation_create(
            payment=payment,
            allocations=[(first, Decimal("800.00")), (second, Decimal("800.00"))],
            actor=ops,
        )
    assert not Allocation.objects.exists()
    with pytest.raises(ValidationError, match=r"has ¥800\.00 left to pay; ¥900\.00"):
        allocation_create(payment=payment, allocations=[(first, Decimal("900.00"))], actor=ops)


def test_invoices_of_another_company_void_invoices_and_credit_notes_are_refused(
    company, ops
) -> None:
    mine = issue(company, "100.00", "PO1")
    other = issue(factories.company("别家公司"), "100.00", "PO9")
    payment = pay("500.00", payer_name="陌生人", payer_account="999")
    allocation_create(payment=payment, allocations=[(mine, Decimal("50.00"))], actor=ops)
    with pytest.raises(ValidationError, match="invoices of one company"):
        allocation_create(payment=payment, allocations=[(other, Decimal("50.00"))], actor=ops)
    voided = issue(company, "100.00", "PO2")
    note = invoice_void(invoice=voided, reason="cancelled", actor=None)
    with pytest.raises(ValidationError, match="is void"):
        allocation_create(payment=payment, allocations=[(voided, Decimal("10.00"))], actor=ops)
    with pytest.raises(ValidationError, match="is a credit note"):
        allocation_create(payment=payment, allocations=[(note, Decimal("10.00"))], actor=ops)


def test_a_payment_of_an_unknown_payer_needs_an_invoice_to_be_kept_as_credit(ops) -> None:
    payment = pay("100.00", payer_name="陌生人", payer_account="999")
    with pytest.raises(ValidationError, match="not identified yet"):
        allocation_create(payment=payment, allocations=[], to_credit=Decimal("100.00"), actor=ops)


# --- Reversal -----------------------------------------------------------------------------------


def test_reversing_an_allocation_reopens_the_invoice_and_the_payment(company, ops) -> None:
    invoice = issue(company, "1000.00")
    payment = pay("1000.00", remittance=invoice.number)
    allocation = payment.allocations.get()
    reversal = allocation_reverse(allocation=allocation, actor=ops, reason="wrong invoice")
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (reversal.amount, reversal.reverses, reversal.method) == (
        Decimal("-1000.00"),
        allocation,
        Allocation.Method.REVERSAL,
    )
    assert (invoice.status, invoice.paid_amount) == (Invoice.Status.OPEN, ZERO)
    assert (payment.status, payment.allocated_amount) == (Payment.Status.UNMATCHED, ZERO)
    assert receivable(company) == Decimal("1000.00")
    assert account_balance(account_get(Account.Kind.CASH)) == ZERO
    assert JournalEntry.objects.filter(kind="payment_allocated_reversal").count() == 1
    with pytest.raises(ValidationError, match="already reversed"):
        allocation_reverse(allocation=allocation, actor=ops, reason="again")
    with pytest.raises(ValidationError, match="Give a reason"):
        allocation_reverse(allocation=allocation, actor=ops, reason=" ")
    assert_books_agree(company)


def test_a_reversal_after_the_due_date_leaves_the_invoice_overdue(company, ops) -> None:
    invoice = issue(company, "100.00")
    Invoice.objects.filter(pk=invoice.pk).update(due_date=TODAY - datetime.timedelta(days=3))
    payment = pay("100.00", remittance=invoice.number)
    allocation_reverse(allocation=payment.allocations.get(), actor=ops, reason="bounced")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OVERDUE


def test_credit_already_used_cannot_be_reversed_before_its_use(company, ops) -> None:
    invoice = issue(company, "100.00")
    payment = pay("100.00", payer_name="陌生人", payer_account="999")
    to_credit = allocation_create(
        payment=payment,
        allocations=[(invoice, Decimal("40.00"))],
        to_credit=Decimal("60.00"),
        actor=ops,
    )[1]
    with pytest.raises(ValidationError, match=r"Only ¥0\.00 of this credit is unused"):
        allocation_reverse(allocation=to_credit, actor=ops, reason="refund")
    use = Allocation.objects.get(kind=Allocation.Kind.CREDIT_USE)
    allocation_reverse(allocation=use, actor=ops, reason="refund")
    allocation_reverse(allocation=to_credit, actor=ops, reason="refund")
    invoice.refresh_from_db()
    assert invoice.paid_amount == Decimal("40.00")
    assert company_credit_available(company) == ZERO
    assert_books_agree(company)


# --- Prepay release -----------------------------------------------------------------------------


@pytest.fixture
def prepay_order(company):
    purchaser = factories.member(company, Role.PURCHASER)
    card = factories.product(face_values=["100", "500"])
    return factories.submitted(
        company, purchaser, card=card, face_value="500", quantity=2, payment_method="bank_transfer"
    )


def test_a_payment_quoting_the_payment_reference_funds_the_order_once(
    company, prepay_order
) -> None:
    proforma = prepay_order.proforma
    text = " ".join(proforma.payment_reference.lower())  # spaced out, lower case
    payment = pay(str(proforma.total), remittance=f"订单款 {text}")
    assert factories.run_funding_follow_ups() == [prepay_order]
    prepay_order.refresh_from_db()
    proforma.refresh_from_db()
    assert prepay_order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING)
    assert proforma.status == Invoice.Status.PAID
    invoice = prepay_order.invoice
    assert (invoice.status, invoice.paid_amount) == (Invoice.Status.PAID, invoice.total)
    # Cash once: the allocation held it as credit; the receipt moved it to the receivable.
    assert account_balance(account_get(Account.Kind.CASH)) == proforma.total
    assert account_balance(account_get(Account.Kind.COMPANY_CREDIT, company)) == ZERO
    assert JournalEntry.objects.filter(kind="payment_received").count() == 1
    # The same statement line again, and the same money quoted again by another line: no second
    # funding; the second line waits for an operator.
    pay(str(proforma.total), reference=payment.bank_reference, remittance="x")
    again = pay(str(proforma.total), reference="OTHER", remittance=proforma.payment_reference)
    assert again.status == Payment.Status.UNMATCHED
    assert Invoice.objects.filter(kind=Invoice.Kind.INVOICE).count() == 1
    assert AuditEvent.objects.filter(action=BillingAction.PROFORMA_PAID).count() == 1
    assert_books_agree(company)


def test_a_partial_prepayment_is_held_until_the_rest_arrives(company, prepay_order, ops) -> None:
    proforma = prepay_order.proforma
    issue(company, "30.00", "PO-OTHER")  # an open invoice the held money must not pay
    pay("400.00", reference="P1", remittance=proforma.payment_reference)
    proforma.refresh_from_db()
    prepay_order.refresh_from_db()
    assert (proforma.status, proforma.paid_amount) == (Invoice.Status.OPEN, Decimal("400.00"))
    assert prepay_order.status == OrderStatus.AWAITING_PAYMENT
    assert company_credit_available(company) == ZERO
    rest = pay("600.00", reference="P2", payer_name="陌生人", payer_account="999")
    assert rest.status == Payment.Status.UNMATCHED
    allocation_create(payment=rest, allocations=[(proforma, Decimal("600.00"))], actor=ops)
    # The order is funded by the follow-up queued on the payment's commit.
    prepay_order.refresh_from_db()
    assert prepay_order.status == OrderStatus.AWAITING_PAYMENT
    factories.run_funding_follow_ups()
    prepay_order.refresh_from_db()
    proforma.refresh_from_db()
    assert proforma.status == Invoice.Status.PAID
    assert prepay_order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING)
    assert account_balance(account_get(Account.Kind.CASH)) == Decimal("1000.00")
    assert_books_agree(company)
    # The order is funded: its allocations can no longer be taken back.
    with pytest.raises(ValidationError, match="is paid and its order funded"):
        allocation_reverse(allocation=rest.allocations.get(), actor=ops, reason="x")


def test_a_withdrawn_proforma_turns_what_was_held_into_company_credit(
    company, prepay_order
) -> None:
    proforma = prepay_order.proforma
    pay("400.00", reference="P1", remittance=proforma.payment_reference)
    assert company_credit_available(company) == ZERO
    invoice_void(invoice=proforma, reason="order cancelled", actor=None)
    assert company_credit_available(company) == Decimal("400.00")
    invoice = issue(company, "100.00", "PO2")
    assert invoice.status == Invoice.Status.PAID
    assert company_credit_available(company) == Decimal("300.00")
    assert company_credit_apply(company=company) == []
    assert_books_agree(company)


def test_a_unique_amount_matches_a_proforma_too(company, prepay_order) -> None:
    pay(str(prepay_order.proforma.total), reference="P9")
    factories.run_funding_follow_ups()
    prepay_order.refresh_from_db()
    assert prepay_order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING)
