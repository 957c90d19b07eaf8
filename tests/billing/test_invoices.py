"""Invoices, pro-forma invoices and credit notes: gapless numbers per kind and year, the
non-taxable prepaid card sale category, paying a pro-forma exactly once, voiding by credit note."""

# Optional relations (order.invoice, a credit position...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.audit import BillingAction
from billing.models import Account, Invoice, JournalEntry
from billing.services.invoices import (
    InvoiceLineData,
    InvoiceStateError,
    invoice_issue,
    invoice_next_number,
    invoice_void,
    proforma_issue,
    proforma_mark_paid,
)
from billing.services.ledger import account_balance, account_get
from portal.models import AuditEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

YEAR = timezone.localdate().year


@pytest.fixture
def company():
    return factories.company("厦门礼品有限公司")


LINES = [
    InvoiceLineData(
        description="礼品卡, face value ¥500.00",
        face_value=Decimal("500.00"),
        quantity=4,
        unit_price=Decimal("490.0000"),
        amount=Decimal("1960.00"),
    ),
    InvoiceLineData(
        description="礼品卡, face value ¥100.00",
        face_value=Decimal("100.00"),
        quantity=10,
        unit_price=Decimal("98.0000"),
        amount=Decimal("980.00"),
    ),
]


def issue(company, order_number: str = "PO1", **kwargs) -> Invoice:
    return invoice_issue(
        company=company,
        order_number=order_number,
        lines=LINES,
        net_days=30,
        **{"actor": None, **kwargs},
    )


def proforma(company, order_number: str = "PO1") -> Invoice:
    return proforma_issue(company=company, order_number=order_number, lines=LINES, actor=None)


# --- Issuing -------------------------------------------------------------------------------------


def test_an_invoice_is_a_non_taxable_prepaid_card_sale_with_the_buyer_as_on_the_day(
    company,
) -> None:
    ops = factories.operator()
    invoice = issue(company, actor=ops, ip="192.0.2.1")
    assert invoice.number == f"INV-{YEAR}-000001"
    assert invoice.tax_category == "prepaid_card_nontaxable"
    assert (invoice.buyer_name, invoice.buyer_credit_code) == (
        "厦门礼品有限公司",
        company.credit_code,
    )
    assert invoice.issue_date == timezone.localdate()
    assert invoice.due_date == timezone.localdate() + datetime.timedelta(days=30)
    assert (invoice.face_total, invoice.total, invoice.discount_total) == (
        Decimal("3000.00"),
        Decimal("2940.00"),
        Decimal("60.00"),
    )
    assert list(invoice.lines.values_list("position", "quantity", "amount")) == [
        (1, 4, Decimal("1960.00")),
        (2, 10, Decimal("980.00")),
    ]
    assert invoice.status == Invoice.Status.OPEN
    assert invoice.balance_due == Decimal("2940.00")
    event = AuditEvent.objects.get(action=BillingAction.INVOICE_ISSUED)
    assert (event.actor, event.ip) == (ops, "192.0.2.1")
    # A company renamed later does not change the invoice
    company.legal_name = "新名字有限公司"
    company.save()
    invoice.refresh_from_db()
    assert invoice.buyer_name == "厦门礼品有限公司"


def test_numbers_are_gapless_per_kind(company) -> None:
    invoices = [issue(company, f"PO{n}") for n in range(3)]
    proformas = [proforma(company, f"PF{n}") for n in range(2)]
    note = invoice_void(invoice=invoices[0], reason="cancelled", actor=None)
    assert [i.number for i in invoices] == [f"INV-{YEAR}-00000{n}" for n in (1, 2, 3)]
    assert [p.number for p in proformas] == [f"PF-{YEAR}-00000{n}" for n in (1, 2)]
    assert note.number == f"CN-{YEAR}-000001"
    assert issue(company, "PO9").number == f"INV-{YEAR}-000004"


def test_numbers_start_again_each_year() -> None:
    assert invoice_next_number(series="INV", year=2031) == 1
    assert invoice_next_number(series="INV", year=2031) == 2
    assert invoice_next_number(series="INV", year=2032) == 1
    assert invoice_next_number(series="CN", year=2031) == 1


def test_a_rolled_back_issue_gives_its_number_back(company) -> None:
    issue(company, "PO1")

    def issue_then_fail() -> None:
        with transaction.atomic():
            issue(company, "PO2")
            raise RuntimeError("the order's transaction failed after the invoice")

    with pytest.raises(RuntimeError):
        issue_then_fail()
    assert issue(company, "PO3").number == f"INV-{YEAR}-000002"
    assert list(Invoice.objects.values_list("sequence", flat=True).order_by("sequence")) == [1, 2]


def test_the_database_refuses_a_repeated_number(company) -> None:
    invoice = issue(company)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            kind=invoice.kind,
            number="INV-X",
            year=invoice.year,
            sequence=invoice.sequence,
            company=company,
            order_number="PO2",
            buyer_name="x",
            buyer_credit_code="x",
            issue_date=invoice.issue_date,
            face_total=Decimal(1),
            total=Decimal(1),
        )


# --- Pro-forma invoices --------------------------------------------------------------------------


def test_a_proforma_has_a_unique_payment_reference_and_no_ledger_entry(company) -> None:
    first, second = proforma(company, "PO1"), proforma(company, "PO2")
    assert first.kind == Invoice.Kind.PROFORMA
    assert first.payment_reference != second.payment_reference
    for reference in (first.payment_reference, second.payment_reference):
        assert reference.startswith("EC")
        assert len(reference) == 12
        assert not set(reference[2:]) & set("ILOU")  # no look-alikes in what people type
    assert first.due_date == timezone.localdate() + datetime.timedelta(days=14)
    assert first.balance_due == Decimal("0.00")  # a pro-forma is not a receivable
    assert not JournalEntry.objects.exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=second.pk).update(payment_reference=first.payment_reference)


def test_paying_a_proforma_issues_the_invoice_and_records_the_receipt(company) -> None:
    pro = proforma(company)
    invoice = proforma_mark_paid(proforma=pro, actor=None, ip="192.0.2.5")
    pro.refresh_from_db()
    assert (pro.status, pro.paid_amount) == (Invoice.Status.PAID, Decimal("2940.00"))
    assert invoice.kind == Invoice.Kind.INVOICE
    assert (invoice.status, invoice.paid_amount) == (Invoice.Status.PAID, Decimal("2940.00"))
    assert invoice.order_number == pro.order_number
    assert invoice.due_date == invoice.issue_date
    assert account_balance(account_get(Account.Kind.RECEIVABLE, company)) == Decimal("0.00")
    assert account_balance(account_get(Account.Kind.CASH)) == Decimal("2940.00")
    assert AuditEvent.objects.filter(action=BillingAction.PROFORMA_PAID).count() == 1


def test_paying_a_proforma_twice_funds_once(company, django_capture_on_commit_callbacks) -> None:
    pro = proforma(company)
    with django_capture_on_commit_callbacks(execute=False) as first_queued:
        first = proforma_mark_paid(proforma=pro, actor=None)
    with django_capture_on_commit_callbacks(execute=False) as second_queued:
        second = proforma_mark_paid(proforma=pro, actor=None)
    assert first == second
    # The funding follow-up is queued on commit by the first call only.
    assert first_queued
    assert second_queued == []
    assert Invoice.objects.filter(kind=Invoice.Kind.INVOICE).count() == 1
    assert JournalEntry.objects.filter(kind="payment_received").count() == 1


def test_only_a_proforma_can_be_paid_this_way(company) -> None:
    with pytest.raises(InvoiceStateError, match="Only a pro-forma invoice"):
        proforma_mark_paid(proforma=issue(company), actor=None)


def test_a_withdrawn_proforma_cannot_be_paid(company) -> None:
    pro = proforma(company)
    assert invoice_void(invoice=pro, reason="order cancelled", actor=None) is None
    with pytest.raises(InvoiceStateError, match="was withdrawn; the payment needs a refund"):
        proforma_mark_paid(proforma=pro, actor=None)
    assert AuditEvent.objects.filter(action=BillingAction.PROFORMA_VOIDED).count() == 1


def test_a_paid_proforma_cannot_be_withdrawn(company) -> None:
    pro = proforma(company)
    proforma_mark_paid(proforma=pro, actor=None)
    with pytest.raises(InvoiceStateError, match="is paid; void its invoice instead"):
        invoice_void(invoice=pro, reason="x", actor=None)


# --- Voiding -------------------------------------------------------------------------------------


def test_voiding_an_invoice_issues_a_credit_note_that_reverses_it(company) -> None:
    invoice = issue(company)
    note = invoice_void(invoice=invoice, reason="order cancelled", actor=None)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID
    assert invoice.balance_due == Decimal("0.00")
    assert note.kind == Invoice.Kind.CREDIT_NOTE
    assert (note.credited_invoice, note.total, note.note) == (
        invoice,
        invoice.total,
        "order cancelled",
    )
    assert list(note.lines.values_list("amount", flat=True)) == [
        Decimal("1960.00"),
        Decimal("980.00"),
    ]
    assert account_balance(account_get(Account.Kind.RECEIVABLE, company)) == Decimal("0.00")
    event = AuditEvent.objects.get(action=BillingAction.INVOICE_VOIDED)
    assert event.changes == {"credit_note": note.number, "reason": "order cancelled"}


def test_voiding_twice_returns_the_same_credit_note(company) -> None:
    invoice = issue(company)
    first = invoice_void(invoice=invoice, reason="x", actor=None)
    assert invoice_void(invoice=invoice, reason="x", actor=None) == first
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1


def test_voiding_a_paid_invoice_leaves_the_payment_as_the_companys_credit(company) -> None:
    invoice = proforma_mark_paid(proforma=proforma(company), actor=None)
    invoice_void(invoice=invoice, reason="cancelled after payment", actor=None)
    assert account_balance(account_get(Account.Kind.RECEIVABLE, company)) == Decimal("0.00")
    assert account_balance(account_get(Account.Kind.COMPANY_CREDIT, company)) == Decimal("-2940.00")
    assert account_balance(account_get(Account.Kind.CARDS_TO_ISSUE)) == Decimal("0.00")


def test_a_credit_note_cannot_be_voided(company) -> None:
    note = invoice_void(invoice=issue(company), reason="x", actor=None)
    with pytest.raises(InvoiceStateError, match="A credit note cannot be voided"):
        invoice_void(invoice=note, reason="x", actor=None)


def test_voiding_needs_a_reason(company) -> None:
    with pytest.raises(ValidationError, match="Give a reason"):
        invoice_void(invoice=issue(company), reason="  ", actor=None)
