"""The buyer's money pages: aging (with exports), payment history and the credit page's hold
banner, each scoped to the active company and open to owners, finance, approvers and purchasers."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import csv
import datetime
import io
import uuid
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.payments import payment_record
from billing.services.receivables import receivables_daily
from portal.models import Company, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@dataclass
class Buyer:
    company: Company
    people: dict[str, User]


def make_buyer(name: str) -> Buyer:
    company = factories.company(name)
    factories.credit_line(company, "100000.00", net_days=30, grace_days=5)
    return Buyer(company=company, people=factories.team(company))


@pytest.fixture
def buyer() -> Buyer:
    return make_buyer("华东贸易有限公司")


@pytest.fixture
def other() -> Buyer:
    return make_buyer("西部实业有限公司")


def owed(buyer: Buyer, amount: str, *, days_late: int, order: str) -> Invoice:
    value = Decimal(amount)
    invoice = invoice_issue(
        company=buyer.company,
        order_number=order,
        lines=[InvoiceLineData("礼品卡", value, 1, value, value)],
        net_days=30,
        actor=None,
    )
    due = timezone.localdate() - datetime.timedelta(days=days_late)
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=due, issue_date=due - datetime.timedelta(days=30)
    )
    invoice.refresh_from_db()
    return invoice


def pay(buyer: Buyer, invoice: Invoice, amount: str, reference: str) -> None:
    payment_record(
        bank_reference=reference,
        payer_name=buyer.company.legal_name,
        payer_account="6222 0000 1111",
        amount=amount,
        received_on=timezone.localdate(),
        remittance=f"付款 {invoice.number}",
        actor=None,
    )


def signed_in(client: Client, user: User) -> Client:
    sign_in(client, user, second_factor=True)
    return client


# --- Aging --------------------------------------------------------------------------------------


def test_aging_shows_the_company_buckets_and_invoices_only(client, buyer, other) -> None:
    mine = owed(buyer, "1200.00", days_late=45, order="ORD-MINE")
    owed(buyer, "300.00", days_late=-10, order="ORD-MINE-2")
    theirs = owed(other, "999.00", days_late=45, order="ORD-THEIRS")

    response = signed_in(client, buyer.people[Role.FINANCE]).get(reverse("billing:aging"))

    assert response.status_code == 200
    text = response.text
    assert mine.number in text
    assert theirs.number not in text
    assert "ORD-THEIRS" not in text
    assert 'data-testid="aging-d31_60">¥1,200.00' in text
    assert 'data-testid="aging-current">¥300.00' in text
    assert 'data-testid="aging-total"><strong>¥1,500.00' in text


def test_aging_as_of_a_past_day_and_a_bad_date(client, buyer) -> None:
    invoice = owed(buyer, "800.00", days_late=3, order="ORD-1")
    pay(buyer, invoice, "800.00", "BANK-AG-1")
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    page = signed_in(client, buyer.people[Role.OWNER])

    before = page.get(reverse("billing:aging"), {"as_of": yesterday.isoformat()})
    now = page.get(reverse("billing:aging"))
    bad = page.get(reverse("billing:aging"), {"as_of": "2026-02-30"})

    assert invoice.number in before.text  # still owed at the end of yesterday
    assert invoice.number not in now.text
    assert bad.status_code == 200
    assert "“2026-02-30” is not a date; write it as YYYY-MM-DD" in bad.text


def test_aging_exports_the_company_invoices_as_csv_and_xlsx(client, buyer, other) -> None:
    mine = owed(buyer, "1200.00", days_late=45, order="=cmd|' /C calc'!A0")
    owed(other, "999.00", days_late=45, order="ORD-THEIRS")
    page = signed_in(client, buyer.people[Role.PURCHASER])

    response = page.get(reverse("billing:aging"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row[1] for row in rows[1:]] == [mine.number]
    assert rows[1][2] == "'=cmd|' /C calc'!A0"
    assert rows[1][7] == "1200.00"

    response = page.get(reverse("billing:aging"), {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 2
    assert values[1][1] == mine.number


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.OWNER, 200),
        (Role.FINANCE, 200),
        (Role.APPROVER, 200),
        (Role.PURCHASER, 200),
        (Role.VIEWER, 403),
    ],
)
def test_who_may_read_aging_and_payments(client, buyer, role, status) -> None:
    page = signed_in(client, buyer.people[role])
    assert page.get(reverse("billing:aging")).status_code == status
    assert page.get(reverse("billing:payment_history")).status_code == status
    assert page.get(reverse("billing:aging"), {"format": "csv"}).status_code == status


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    for name in ("billing:aging", "billing:payment_history"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert reverse("portal:login") in response["Location"]


# --- Payment history ----------------------------------------------------------------------------


def test_payment_history_lists_the_company_payments_with_their_invoices(
    client, buyer, other
) -> None:
    first = owed(buyer, "1000.00", days_late=0, order="ORD-1")
    second = owed(buyer, "500.00", days_late=0, order="ORD-2")
    pay(buyer, first, "1000.00", "BANK-MINE-1")
    pay(buyer, second, "200.00", "BANK-MINE-2")
    theirs = owed(other, "700.00", days_late=0, order="ORD-X")
    pay(other, theirs, "700.00", "BANK-THEIRS")

    response = signed_in(client, buyer.people[Role.FINANCE]).get(reverse("billing:payment_history"))

    text = response.text
    assert response.status_code == 200
    assert "BANK-THEIRS" not in text
    assert theirs.number not in text
    row = text[text.index('data-testid="payment-BANK-MINE-2"') :]
    row = row[: row.index("</tr>")]
    assert "¥200.00" in row
    assert second.number in row
    assert "BANK-MINE-1" in text
    assert first.number in text


def test_a_member_of_two_companies_sees_the_active_one_only(client, buyer, other) -> None:
    both = factories.member(buyer.company, Role.FINANCE, email=f"{uuid.uuid4().hex[:6]}@x.example")
    factories.member(other.company, Role.FINANCE, email=both.email)
    theirs = owed(other, "700.00", days_late=40, order="ORD-X")
    pay(other, theirs, "100.00", "BANK-OTHER")
    page = signed_in(client, both)
    page.post(reverse("portal:company_switch", args=[buyer.company.public_id]))

    assert "BANK-OTHER" not in page.get(reverse("billing:payment_history")).text
    assert theirs.number not in page.get(reverse("billing:aging")).text

    page.post(reverse("portal:company_switch", args=[other.company.public_id]))
    assert "BANK-OTHER" in page.get(reverse("billing:payment_history")).text
    assert theirs.number in page.get(reverse("billing:aging")).text


# --- Credit page --------------------------------------------------------------------------------


def test_the_credit_page_shows_the_hold_and_the_next_due_amount(client, buyer) -> None:
    late = owed(buyer, "2500.00", days_late=9, order="ORD-LATE")
    owed(buyer, "100.00", days_late=-3, order="ORD-SOON")
    receivables_daily()

    response = signed_in(client, buyer.people[Role.OWNER]).get(reverse("billing:credit"))

    text = response.text
    banner = text[text.index('data-testid="credit-hold-banner"') :]
    banner = banner[: banner.index("</div>")]
    assert "New credit orders are on hold." in banner
    assert late.number in banner
    assert "¥2,500.00 unpaid" in banner
    assert 'data-testid="credit-next-due-amount">¥2,500.00' in text

    pay(buyer, late, "2500.00", "BANK-LATE")
    text = client.get(reverse("billing:credit")).text
    assert 'data-testid="credit-hold-banner"' not in text
    assert 'data-testid="credit-next-due-amount">¥100.00' in text


def test_the_invoice_list_marks_overdue_invoices(client, buyer) -> None:
    late = owed(buyer, "100.00", days_late=2, order="ORD-LATE")
    receivables_daily()
    text = signed_in(client, buyer.people[Role.VIEWER]).get(reverse("billing:invoice_list")).text
    row = text[text.index(late.number) :]
    row = row[: row.index("</tr>")]
    assert 'class="badge invoice-status-overdue">Overdue' in row


def test_the_pages_render_in_chinese(client, buyer) -> None:
    late = owed(buyer, "100.00", days_late=12, order="ORD-ZH")
    pay(buyer, late, "40.00", "BANK-ZH")
    receivables_daily()
    page = signed_in(client, buyer.people[Role.OWNER])
    for name in ("billing:aging", "billing:payment_history", "billing:credit"):
        response = page.get(reverse(name), HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200
        assert response.headers["Content-Language"] == "zh-hans"
        assert late.number in response.text
