"""Invoice pages, the credit page and the dashboard's credit panel, as buyers see them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice
from billing.services.credit import credit_charge, credit_line_set, credit_reserve
from billing.services.invoices import (
    InvoiceLineData,
    invoice_issue,
    invoice_void,
    proforma_issue,
)
from portal.models import Company, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

BUYER_NAME = "华东贸易有限公司"


def card_lines(quantity: int = 30, unit_price: str = "97.5000") -> list[InvoiceLineData]:
    """Cards of 100 CNY face value at a negotiated unit price."""
    price = Decimal(unit_price)
    return [
        InvoiceLineData(
            description="礼品卡, face value ¥100.00",
            face_value=Decimal("100.00"),
            quantity=quantity,
            unit_price=price,
            amount=(price * quantity).quantize(Decimal("0.01")),
        )
    ]


@dataclass
class Buyer:
    company: Company
    people: dict[str, User]


@pytest.fixture
def buyer() -> Buyer:
    company = factories.company(BUYER_NAME)
    factories.credit_line(company, "100000.00", net_days=30, grace_days=5)
    return Buyer(company=company, people=factories.team(company))


@pytest.fixture
def other() -> Buyer:
    company = factories.company("西部实业有限公司")
    factories.credit_line(company)
    return Buyer(company=company, people=factories.team(company))


def signed_in(client: Client, buyer: Buyer, role: str = "owner") -> Client:
    sign_in(client, buyer.people[role], second_factor=True)
    return client


def charge(buyer: Buyer, order_number: str, **kwargs: object) -> Invoice:
    return credit_charge(
        company=buyer.company,
        order_number=order_number,
        lines=card_lines(**kwargs),  # type: ignore[arg-type]
        actor=buyer.people["purchaser"],
    )


# --- the list ----------------------------------------------------------------------------------


def test_invoice_list_shows_the_active_company_documents_only(client, buyer, other):
    mine = charge(buyer, "ORD-A-1")
    theirs = charge(other, "ORD-B-1")

    response = signed_in(client, buyer, "viewer").get(reverse("billing:invoice_list"))

    assert response.status_code == 200
    assert mine.number in response.text
    assert "ORD-A-1" in response.text
    assert theirs.number not in response.text
    assert "ORD-B-1" not in response.text


def test_invoice_list_shows_amounts_and_status_of_each_document(client, buyer):
    charge(buyer, "ORD-A-1")

    response = signed_in(client, buyer).get(reverse("billing:invoice_list"))

    row = response.text[response.text.index("ORD-A-1") :]
    row = row[: row.index("</tr>")]
    assert "¥2,925.00" in row  # total and balance due
    assert "¥0.00" in row  # paid
    assert "Open" in row
    assert (timezone.localdate() + datetime.timedelta(days=30)).isoformat() in row


def test_invoice_list_filters_by_kind_and_status(client, buyer):
    invoice = charge(buyer, "ORD-A-1")
    proforma = proforma_issue(
        company=buyer.company, order_number="ORD-A-2", lines=card_lines(), actor=None
    )
    voided = charge(buyer, "ORD-A-3")
    credit_note = invoice_void(invoice=voided, reason="Order cancelled", actor=None)
    assert credit_note is not None
    client = signed_in(client, buyer)

    proformas = client.get(reverse("billing:invoice_list"), {"kind": "proforma"}).text
    void = client.get(reverse("billing:invoice_list"), {"status": "void"}).text
    open_invoices = client.get(
        reverse("billing:invoice_list"), {"kind": "invoice", "status": "open"}
    ).text

    assert proforma.number in proformas
    assert invoice.number not in proformas
    assert voided.number in void
    assert invoice.number not in void
    assert invoice.number in open_invoices
    assert voided.number not in open_invoices
    assert credit_note.number not in open_invoices


def test_invoice_list_searches_invoice_and_order_numbers(client, buyer):
    first = charge(buyer, "ORD-2026-000111")
    second = charge(buyer, "ORD-2026-000222")
    client = signed_in(client, buyer)

    by_order = client.get(reverse("billing:invoice_list"), {"q": "000222"}).text
    by_number = client.get(reverse("billing:invoice_list"), {"q": first.number.lower()}).text
    nothing = client.get(reverse("billing:invoice_list"), {"q": "no-such-number"}).text

    assert second.number in by_order
    assert first.number not in by_order
    assert first.number in by_number
    assert second.number not in by_number
    assert "No invoices match these filters." in nothing


def test_invoice_list_pages_keep_the_filters(client, buyer, monkeypatch):
    monkeypatch.setattr("billing.views.invoices.INVOICES_PER_PAGE", 2)
    invoices = [charge(buyer, f"ORD-P-{n}") for n in range(3)]
    client = signed_in(client, buyer)

    first_page = client.get(reverse("billing:invoice_list"), {"kind": "invoice"}).text
    second_page = client.get(reverse("billing:invoice_list"), {"kind": "invoice", "page": 2}).text

    # Newest first: the oldest invoice is alone on the second page.
    assert invoices[2].number in first_page
    assert invoices[1].number in first_page
    assert invoices[0].number not in first_page
    assert "Page 1 of 2" in first_page
    assert "?kind=invoice&amp;page=2" in first_page
    assert invoices[0].number in second_page
    assert invoices[2].number not in second_page


def test_invoice_list_needs_a_signed_in_member(client, buyer):
    response = client.get(reverse("billing:invoice_list"))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- one document ------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["billing:invoice_detail", "billing:invoice_pdf"])
def test_another_company_invoice_is_not_found(client, buyer, other, view):
    theirs = charge(other, "ORD-B-1")

    response = signed_in(client, buyer).get(reverse(view, args=[theirs.number]))

    assert response.status_code == 404
    assert theirs.buyer_name not in response.text


def test_unknown_invoice_number_is_not_found(client, buyer):
    response = signed_in(client, buyer).get(reverse("billing:invoice_detail", args=["INV-1-2"]))

    assert response.status_code == 404


def test_invoice_shows_both_parties_tax_category_lines_and_totals(client, buyer, settings):
    settings.PLATFORM_LEGAL_NAME = "上海易卡预付卡服务有限公司"
    settings.PLATFORM_CREDIT_CODE = "91310000MA1K4ECP06"
    invoice = charge(buyer, "ORD-A-1")

    response = signed_in(client, buyer, "viewer").get(
        reverse("billing:invoice_detail", args=[invoice.number])
    )

    page = response.text
    assert response.status_code == 200
    assert "上海易卡预付卡服务有限公司" in page
    assert "91310000MA1K4ECP06" in page
    assert BUYER_NAME in page
    assert buyer.company.credit_code in page
    assert invoice.number in page
    assert "Non-taxable prepaid card sale" in page
    assert invoice.issue_date.isoformat() in page
    assert invoice.due_date is not None
    assert invoice.due_date.isoformat() in page
    assert "礼品卡, face value ¥100.00" in page
    assert "¥97.50" in page  # unit price
    assert "¥3,000.00" in page  # face value total
    assert "-¥75.00" in page  # the 2.5% discount
    assert '<td class="num" data-testid="invoice-total">¥2,925.00</td>' in page
    assert '<td class="num" data-testid="balance-due">¥2,925.00</td>' in page
    assert reverse("billing:invoice_pdf", args=[invoice.number]) in page


def test_invoice_with_a_service_fee_shows_the_fee_and_unit_price_to_four_places(client, buyer):
    invoice = charge(buyer, "ORD-A-1", quantity=3, unit_price="102.3333")

    page = signed_in(client, buyer).get(reverse("billing:invoice_detail", args=[invoice.number]))

    assert "Service fee" in page.text
    assert "¥7.00" in page.text  # 3 x ¥102.3333 is ¥307.00 for ¥300.00 of face value
    assert "¥102.3333" in page.text
    assert "Discount" not in page.text


def test_proforma_shows_the_payment_reference_and_bank_details(client, buyer, settings):
    settings.PLATFORM_BANK_NAME = "招商银行上海分行营业部"
    settings.PLATFORM_BANK_ACCOUNT = "1219 0000 0000 0000 0001"
    proforma = proforma_issue(
        company=buyer.company,
        order_number="ORD-A-1",
        lines=card_lines(),
        actor=buyer.people["purchaser"],
    )
    assert proforma.payment_reference

    page = signed_in(client, buyer, "purchaser").get(
        reverse("billing:invoice_detail", args=[proforma.number])
    )

    assert "Pro-forma invoice" in page.text
    assert proforma.payment_reference in page.text
    assert "Put this reference in the transfer remittance" in page.text
    assert "招商银行上海分行营业部" in page.text
    assert "1219 0000 0000 0000 0001" in page.text
    assert "Amount to transfer" in page.text


def test_void_invoice_is_marked_and_links_its_credit_note(client, buyer):
    invoice = charge(buyer, "ORD-A-1")
    credit_note = invoice_void(invoice=invoice, reason="Order cancelled", actor=None)
    assert credit_note is not None
    client = signed_in(client, buyer)

    void_page = client.get(reverse("billing:invoice_detail", args=[invoice.number])).text
    note_page = client.get(reverse("billing:invoice_detail", args=[credit_note.number])).text

    assert 'data-testid="void-marker">VOID<' in void_page
    assert "This invoice is void" in void_page
    assert reverse("billing:invoice_detail", args=[credit_note.number]) in void_page
    assert '<td class="num" data-testid="balance-due">¥0.00</td>' in void_page
    assert "Credit note" in note_page
    assert reverse("billing:invoice_detail", args=[invoice.number]) in note_page
    assert "Order cancelled" in note_page
    assert "VOID" not in note_page


def test_paid_proforma_links_the_invoice_of_the_same_order(client, buyer):
    from billing.services.invoices import proforma_mark_paid

    proforma = proforma_issue(
        company=buyer.company, order_number="ORD-A-1", lines=card_lines(), actor=None
    )
    invoice = proforma_mark_paid(proforma=proforma, actor=None)

    page = signed_in(client, buyer).get(reverse("billing:invoice_detail", args=[proforma.number]))

    assert "The transfer arrived" in page.text
    assert reverse("billing:invoice_detail", args=[invoice.number]) in page.text


# --- the credit page ---------------------------------------------------------------------------


def test_credit_page_shows_limit_less_unpaid_and_reserved(client, buyer):
    invoice = charge(buyer, "ORD-A-1")  # 2,925.00 unpaid
    invoice_issue(
        company=buyer.company,
        order_number="ORD-A-2",
        lines=card_lines(quantity=10, unit_price="100.0000"),
        net_days=30,
        actor=None,
    )  # 1,000.00 more unpaid
    credit_reserve(company=buyer.company, reference="ORD-A-3", amount=Decimal("5000.00"))

    page = signed_in(client, buyer, "finance").get(reverse("billing:credit")).text

    assert 'data-testid="credit-limit">¥100,000.00<' in page
    assert 'data-testid="credit-unpaid">-¥3,925.00<' in page
    assert 'data-testid="credit-reserved">-¥5,000.00<' in page
    assert 'data-testid="credit-available">¥91,075.00<' in page
    assert "30 days after the invoice date" in page
    assert "5 days" in page
    assert invoice.due_date is not None
    assert f'data-testid="credit-next-due">{invoice.due_date.isoformat()}<' in page
    assert invoice.number in page
    assert "Not yet due" in page


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("finance", 200), ("purchaser", 403), ("approver", 403), ("viewer", 403)],
)
def test_credit_page_is_for_owners_and_finance(client, buyer, role, status):
    response = signed_in(client, buyer, role).get(reverse("billing:credit"))

    assert response.status_code == status


def test_credit_page_explains_the_hold_of_an_invoice_past_due_and_grace(client, buyer, monkeypatch):
    sixty_days_ago = timezone.localdate() - datetime.timedelta(days=60)
    with monkeypatch.context() as past:
        past.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: sixty_days_ago)
        late = charge(buyer, "ORD-A-1")  # due 30 days ago; grace is 5 days
    # Issued directly: the late invoice now stops new orders on credit.
    current = invoice_issue(
        company=buyer.company, order_number="ORD-A-2", lines=card_lines(), net_days=30, actor=None
    )

    page = signed_in(client, buyer).get(reverse("billing:credit")).text

    assert "New credit orders are on hold." in page
    assert f"Invoice {late.number} is past its due date and the 5-day grace period" in page
    assert "30 days past due: credit orders on hold" in page
    assert current.number in page


def test_credit_page_warns_while_an_invoice_is_within_its_grace_period(client, buyer, monkeypatch):
    issued = timezone.localdate() - datetime.timedelta(days=32)
    with monkeypatch.context() as past:
        past.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: issued)
        late = charge(buyer, "ORD-A-1")  # due 2 days ago
    assert late.due_date is not None

    page = signed_in(client, buyer).get(reverse("billing:credit")).text

    assert "on hold" not in page
    assert "2 days past due" in page
    pay_by = late.due_date + datetime.timedelta(days=5)
    assert f"Pay by {pay_by.isoformat()} to keep ordering on credit." in page


def test_credit_page_and_panel_say_when_the_line_is_suspended(client, buyer):
    credit_line_set(
        company=buyer.company,
        limit=Decimal("100000.00"),
        net_days=30,
        grace_days=5,
        status="suspended",
        actor=None,
    )
    client = signed_in(client, buyer)

    credit_page = client.get(reverse("billing:credit")).text
    dashboard = client.get(reverse("portal:dashboard")).text

    assert "Your credit line is suspended" in credit_page
    assert "Suspended" in credit_page
    assert "Credit line suspended: pay new orders by bank transfer." in dashboard


def test_credit_page_without_a_credit_line_says_how_to_pay(client):
    company = factories.company()
    owner = factories.member(company, "owner")
    sign_in(client, owner, second_factor=True)

    page = client.get(reverse("billing:credit")).text

    assert "Your company has no credit terms" in page


# --- the dashboard panel -----------------------------------------------------------------------


def test_dashboard_panel_shows_available_credit_and_open_balance(client, buyer, other):
    charge(buyer, "ORD-A-1")
    charge(other, "ORD-B-1", quantity=100)

    page = signed_in(client, buyer).get(reverse("portal:dashboard")).text

    assert 'data-testid="credit-panel"' in page
    assert 'data-testid="panel-available">¥97,075.00<' in page
    assert 'data-testid="panel-open-balance">¥2,925.00<' in page
    assert f'href="{reverse("billing:credit")}"' in page
    assert f'href="{reverse("billing:invoice_list")}"' in page


def test_dashboard_panel_links_credit_terms_only_for_roles_that_may_see_them(client, buyer):
    page = signed_in(client, buyer, "viewer").get(reverse("portal:dashboard")).text

    assert 'data-testid="panel-available">¥100,000.00<' in page
    assert f'href="{reverse("billing:credit")}"' not in page
    assert f'href="{reverse("billing:invoice_list")}"' in page


def test_dashboard_panel_without_credit_line(client):
    company = factories.company()
    owner = factories.member(company, "owner")
    sign_in(client, owner, second_factor=True)

    page = client.get(reverse("portal:dashboard")).text

    assert "No credit terms: orders are paid by bank transfer." in page
    assert 'data-testid="panel-open-balance">¥0.00<' in page
