"""Operators and payments in the admin: recording by hand, importing a statement (row errors or a
summary), the unmatched queue, allocating one payment across invoices, reversing with a reason."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from billing.audit import BillingAction
from billing.models import Allocation, BankStatementImport, Invoice, Payment
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.payments import payment_record
from portal.models import AuditEvent, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PAYMENTS = "/ops/billing/payment/"
IMPORTS = "/ops/billing/bankstatementimport/"
ALLOCATIONS = "/ops/billing/allocation/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
TODAY = timezone.localdate()


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def admin_client(client: Client, ops: User) -> Client:
    sign_in(client, ops, second_factor=True)
    return client


@pytest.fixture
def company():
    return factories.company("厦门礼品有限公司")


def issue(company, amount: str, order: str = "PO1") -> Invoice:
    value = Decimal(amount)
    line = InvoiceLineData(
        description="礼品卡", face_value=value, quantity=1, unit_price=value, amount=value
    )
    return invoice_issue(company=company, order_number=order, lines=[line], net_days=30, actor=None)


def unknown_payment(amount: str, reference: str = "U1") -> Payment:
    payment, _ = payment_record(
        bank_reference=reference,
        payer_name="陌生人",
        payer_account="999",
        amount=amount,
        received_on=TODAY,
        remittance="",
        actor=None,
    )
    return payment


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_operator_records_a_payment_that_matches_its_invoice(
    admin_client: Client, company, ops
) -> None:
    invoice = issue(company, "500.00")
    form = {
        "bank_reference": "MAN-1",
        "payer_name": "厦门礼品有限公司",
        "payer_account": "6222 1",
        "amount": "500.00",
        "received_on": TODAY.isoformat(),
        "remittance": f"付 {invoice.number}",
        "company": "",
    }
    response = admin_client.post(f"{PAYMENTS}add/", form, follow=True, **EN)
    assert response.status_code == HTTPStatus.OK
    assert "recorded and matched automatically" in " ".join(page_messages(response))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    event = AuditEvent.objects.get(action=BillingAction.PAYMENT_RECORDED)
    assert event.actor == ops
    assert event.ip
    again = admin_client.post(f"{PAYMENTS}add/", form, follow=True, **EN)
    assert "was recorded before" in " ".join(page_messages(again))
    assert Payment.objects.count() == 1


def test_a_bad_amount_is_shown_on_the_form(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PAYMENTS}add/",
        {"payer_name": "x", "amount": "12.345", "received_on": TODAY.isoformat()},
        **EN,
    )
    assert response.status_code == HTTPStatus.OK
    assert "12.345 has more than 2 decimal places" in response.content.decode()
    assert not Payment.objects.exists()


def test_the_unmatched_queue_lists_what_waits_for_an_operator(
    admin_client: Client, company
) -> None:
    invoice = issue(company, "100.00")
    payment_record(
        bank_reference="MATCHED-1",
        payer_name="厦门礼品有限公司",
        payer_account="1",
        amount="100.00",
        received_on=TODAY,
        remittance=invoice.number,
        actor=None,
    )
    unknown_payment("42.00", "QUEUED-1")
    response = admin_client.get(PAYMENTS, {"status__exact": "unmatched"}, **EN)
    body = response.content.decode()
    assert "QUEUED-1" in body
    assert "MATCHED-1" not in body
    assert "¥42.00" in body


def test_a_statement_with_bad_rows_shows_each_and_imports_nothing(admin_client: Client) -> None:
    data = (
        "交易日期,对方户名,贷方金额,流水号\r\n"
        "2026-01-05,甲公司,-5.00,A1\r\n"
        "2026-02-30,乙公司,5.00,A2\r\n"
    )
    upload = SimpleUploadedFile("bad.csv", data.encode("utf-8-sig"), content_type="text/csv")
    response = admin_client.post(f"{IMPORTS}add/", {"file": upload}, **EN)
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "The file has 2 problems; nothing was imported." in body
    assert "a negative amount is money going out" in body
    assert "2026-02-30" in body
    assert not BankStatementImport.objects.exists()
    assert not Payment.objects.exists()


def test_a_statement_import_shows_its_summary_and_links_the_rest(
    admin_client: Client, company
) -> None:
    invoice = issue(company, "300.00")
    data = (
        "Date,Payer,Amount,Bank reference,Remittance\r\n"
        f"{TODAY},厦门礼品有限公司,300.00,S1,{invoice.number}\r\n"
        f"{TODAY},陌生人,77.00,S2,?\r\n"
    )
    upload = SimpleUploadedFile("jan.csv", data.encode(), content_type="text/csv")
    response = admin_client.post(f"{IMPORTS}add/", {"file": upload}, **EN)
    body = response.content.decode()
    assert '<td id="summary-new">2</td>' in body
    assert '<td id="summary-matched">1</td>' in body
    assert '<td id="summary-unmatched">1</td>' in body
    unmatched = Payment.objects.get(bank_reference="S2")
    assert f"{PAYMENTS}{unmatched.pk}/allocate/" in body
    listing = admin_client.get(IMPORTS, **EN).content.decode()
    assert "jan.csv" in listing


def test_an_operator_allocates_one_payment_across_invoices_and_keeps_credit(
    admin_client: Client, company, ops
) -> None:
    first = issue(company, "300.00", "PO1")
    second = issue(company, "500.00", "PO2")
    payment = unknown_payment("1000.00")
    url = f"{PAYMENTS}{payment.pk}/allocate/"
    page = admin_client.get(url, {"company": company.pk}, **EN).content.decode()
    assert first.number in page
    assert second.number in page
    response = admin_client.post(
        url,
        {
            "company": company.pk,
            f"amount_{first.public_id}": "300.00",
            f"amount_{second.public_id}": "500.00",
            "to_credit": "200.00",
            "note": "电话确认",
        },
        follow=True,
        **EN,
    )
    assert "3 allocation(s) made" in " ".join(page_messages(response))
    payment.refresh_from_db()
    assert (payment.status, payment.company) == (Payment.Status.ALLOCATED, company)
    assert Allocation.objects.filter(payment=payment).count() == 3
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == Invoice.Status.PAID
    event = AuditEvent.objects.filter(action=BillingAction.PAYMENT_ALLOCATED).latest("id")
    assert event.actor == ops


def test_over_allocating_is_refused_with_the_figures(admin_client: Client, company) -> None:
    invoice = issue(company, "800.00")
    payment = unknown_payment("100.00")
    response = admin_client.post(
        f"{PAYMENTS}{payment.pk}/allocate/",
        {"company": company.pk, f"amount_{invoice.public_id}": "150.00"},
        **EN,
    )
    assert "has ¥100.00 left to allocate; ¥150.00 is more than that" in (response.content.decode())
    assert not Allocation.objects.exists()


def test_an_operator_reverses_an_allocation_with_a_reason(
    admin_client: Client, company, ops
) -> None:
    invoice = issue(company, "100.00")
    payment, _ = payment_record(
        bank_reference="R1",
        payer_name="厦门礼品有限公司",
        payer_account="1",
        amount="100.00",
        received_on=TODAY,
        remittance=invoice.number,
        actor=None,
    )
    allocation = payment.allocations.get()
    url = f"{ALLOCATIONS}{allocation.pk}/reverse/"
    missing = admin_client.post(url, {"reason": ""}, **EN)
    assert "This field is required" in missing.content.decode()
    response = admin_client.post(url, {"reason": "付款人弄错发票"}, follow=True, **EN)
    assert "reversed" in " ".join(page_messages(response))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    reversal = Allocation.objects.get(reverses=allocation)
    assert (reversal.note, reversal.created_by) == ("付款人弄错发票", ops)
    again = admin_client.post(url, {"reason": "again"}, **EN)
    assert "already reversed" in again.content.decode()
    detail = admin_client.get(f"{PAYMENTS}{payment.pk}/change/", **EN).content.decode()
    assert "付款人弄错发票" in detail  # the reversal and its reason, on the payment's page
    assert f"{PAYMENTS}{payment.pk}/allocate/" in detail
    listing = admin_client.get(ALLOCATIONS, {"method__exact": "reversal"}, **EN)
    assert "-¥100.00" in listing.content.decode()


def test_allocations_cannot_be_edited_or_deleted(admin_client: Client, company) -> None:
    invoice = issue(company, "100.00")
    payment, _ = payment_record(
        bank_reference="R1",
        payer_name="厦门礼品有限公司",
        payer_account="1",
        amount="100.00",
        received_on=TODAY,
        remittance=invoice.number,
        actor=None,
    )
    allocation = payment.allocations.get()
    assert admin_client.get(f"{ALLOCATIONS}add/").status_code == HTTPStatus.FORBIDDEN
    assert (
        admin_client.post(f"{ALLOCATIONS}{allocation.pk}/delete/", {"post": "yes"}).status_code
        == HTTPStatus.FORBIDDEN
    )
    assert Allocation.objects.filter(pk=allocation.pk).exists()


def test_staff_without_billing_permissions_cannot_allocate_or_import(client: Client) -> None:
    clerk = User.objects.create_user("clerk@issuer.example", "Correct-Horse-42", is_staff=True)
    sign_in(client, clerk, second_factor=True)
    payment = unknown_payment("10.00")
    assert client.get(f"{PAYMENTS}{payment.pk}/allocate/").status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{IMPORTS}add/").status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{PAYMENTS}add/").status_code == HTTPStatus.FORBIDDEN


def test_buyers_never_reach_the_payment_admin(client: Client, company) -> None:
    buyer = factories.member(company, "owner")
    sign_in(client, buyer, second_factor=True)
    response = client.get(PAYMENTS)
    assert response.status_code == HTTPStatus.FOUND
    assert "/ops/login/" in response["Location"]
