"""Operators in the admin: the risk review queue (approve, reject with a reason), the catalog's
rule-named errors, pricing and credit lines saved through their audited services, and the
read-only evidence (invoices, journal, purchase registrations)."""

# Optional relations (order.invoice, a credit position...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from pytest_django.fixtures import Settings

from billing.audit import BillingAction
from billing.models import CompanyPricing, CreditLine, Invoice
from cards.audit import CardsAction
from cards.models import CardProduct, Order, OrderStatus
from portal.models import AuditEvent, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

QUEUE = "/ops/cards/riskrevieworder/"
EN = {"Accept-Language": "en"}


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
    company = factories.company(approval_threshold="100000.00")
    factories.credit_line(company, "100000.00")
    return company


@pytest.fixture
def purchaser(company):
    return factories.member(company, Role.PURCHASER)


@pytest.fixture
def held(settings: Settings, company, purchaser) -> list[Order]:
    """Two orders held for review (at the lowered platform limit)."""
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    return [factories.submitted(company, purchaser, quantity=30) for _ in range(2)]


def text(response) -> str:
    return response.content.decode()


# --- The queue -----------------------------------------------------------------------------------


def test_the_queue_lists_only_orders_in_risk_review(admin_client, company, purchaser, held) -> None:
    # Given orders in other states too
    funded = factories.submitted(company, purchaser, quantity=1)
    draft = factories.draft(company, purchaser)
    # When an operator opens the queue
    response = admin_client.get(QUEUE, headers=EN)
    # Then only the held orders are listed, with company, price and readable flags
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "Risk review queue" in page
    for order in held:
        assert order.number in page
    assert funded.number not in page
    assert draft.number not in page
    assert company.legal_name in page
    assert "¥3,000.00" in page
    assert "at or above the platform limit" in page


def test_approving_from_the_queue_funds_each_order_and_says_so(admin_client, held) -> None:
    response = admin_client.post(
        QUEUE,
        {"action": "approve_selected", "_selected_action": [o.pk for o in held]},
        headers=EN,
        follow=True,
        REMOTE_ADDR="198.51.100.20",
    )
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    for order in held:
        order.refresh_from_db()
        assert order.status == OrderStatus.FUNDED
        assert order.invoice is not None
        assert f"Order {order.number} cleared; it is now Funded." in page
    event = AuditEvent.objects.filter(action="order.review_approved").first()
    assert event.ip == "198.51.100.20"


def test_an_order_that_cannot_be_cleared_is_reported_and_the_others_go_on(
    admin_client, held
) -> None:
    # Given a second company's held order whose credit line was suspended meanwhile
    other = factories.company(approval_threshold="100000.00")
    factories.credit_line(other, "100000.00")
    stuck = factories.submitted(other, factories.member(other, Role.PURCHASER), quantity=30)
    assert stuck.status == OrderStatus.PENDING_REVIEW
    CreditLine.objects.filter(company=other).update(status=CreditLine.Status.SUSPENDED)
    # When the operator approves it together with a good one
    response = admin_client.post(
        QUEUE,
        {"action": "approve_selected", "_selected_action": [held[0].pk, stuck.pk]},
        headers=EN,
        follow=True,
    )
    # Then the good one is funded, and the other is reported with the reason and stays queued
    page = text(response)
    held[0].refresh_from_db()
    stuck.refresh_from_db()
    assert held[0].status == OrderStatus.FUNDED
    assert stuck.status == OrderStatus.PENDING_REVIEW
    assert f"Order {stuck.number}: The credit line of {other.legal_name} is suspended" in page
    assert f"Order {held[0].number} cleared" in page


def test_rejecting_from_the_queue_asks_for_a_reason_first(admin_client, held) -> None:
    selection = {"action": "reject_selected", "_selected_action": [o.pk for o in held]}
    # When the operator chooses "Reject"
    confirm = admin_client.post(QUEUE, selection, headers=EN)
    # Then a confirmation page asks for the reason, listing the orders
    assert confirm.status_code == HTTPStatus.OK
    page = text(confirm)
    assert 'name="reason"' in page
    assert all(o.number in page for o in held)
    assert all(o.status == OrderStatus.PENDING_REVIEW for o in Order.objects.all())
    # When they confirm without a reason
    empty = admin_client.post(QUEUE, {**selection, "post": "yes", "reason": " "}, headers=EN)
    # Then the page asks again, and nothing is rejected
    assert empty.status_code == HTTPStatus.OK
    assert "This field is required." in text(empty)
    assert not Order.objects.filter(status=OrderStatus.REJECTED).exists()
    # When they give a reason
    done = admin_client.post(
        QUEUE,
        {**selection, "post": "yes", "reason": "Unusual ordering pattern"},
        headers=EN,
        follow=True,
    )
    # Then each order is rejected with it
    for order in held:
        order.refresh_from_db()
        assert (order.status, order.closing_reason) == (
            OrderStatus.REJECTED,
            "Unusual ordering pattern",
        )
        assert f"Order {order.number} rejected; the buyer is told why." in text(done)
    queue = text(admin_client.get(QUEUE, headers=EN))
    assert all(o.number not in queue for o in held)


def test_an_order_page_offers_approve_and_reject_while_in_review(admin_client, held) -> None:
    order = held[0]
    page = text(admin_client.get(f"/ops/cards/order/{order.pk}/change/", headers=EN))
    assert f"{QUEUE}{order.pk}/approve/" in page
    assert f"{QUEUE}{order.pk}/reject/" in page
    queue_page = text(admin_client.get(f"{QUEUE}{order.pk}/change/", headers=EN))
    assert f"{QUEUE}{order.pk}/approve/" in queue_page


def test_an_order_page_out_of_review_offers_no_review_buttons(
    admin_client, company, purchaser
) -> None:
    order = factories.submitted(company, purchaser, quantity=1)
    page = text(admin_client.get(f"/ops/cards/order/{order.pk}/change/", headers=EN))
    assert "/approve/" not in page


def test_approving_one_order_from_its_page_asks_then_funds(admin_client, held) -> None:
    order = held[0]
    confirm = admin_client.get(f"{QUEUE}{order.pk}/approve/", headers=EN)
    assert confirm.status_code == HTTPStatus.OK
    assert order.number in text(confirm)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW
    done = admin_client.post(f"{QUEUE}{order.pk}/approve/", headers=EN, follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert f"Order {order.number} cleared" in text(done)


def test_rejecting_one_order_from_its_page_needs_a_reason(admin_client, held) -> None:
    order = held[0]
    url = f"{QUEUE}{order.pk}/reject/"
    assert 'name="reason"' in text(admin_client.get(url, headers=EN))
    again = admin_client.post(url, {"reason": ""}, headers=EN)
    assert again.status_code == HTTPStatus.OK
    assert "This field is required." in text(again)
    admin_client.post(url, {"reason": "Company under investigation"}, headers=EN)
    order.refresh_from_db()
    assert (order.status, order.closing_reason) == (
        OrderStatus.REJECTED,
        "Company under investigation",
    )


def test_approving_an_order_that_left_the_queue_is_reported(
    admin_client, company, purchaser
) -> None:
    order = factories.submitted(company, purchaser, quantity=1)
    done = admin_client.post(f"{QUEUE}{order.pk}/approve/", headers=EN, follow=True)
    assert f"Order {order.number}: Order {order.number} is not in risk review" in text(done)


def test_staff_without_the_review_permission_cannot_decide(client, held) -> None:
    viewer = User.objects.create_user("intern@issuer.example", "x", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_riskrevieworder"),
        Permission.objects.get(codename="view_order"),
    )
    sign_in(client, viewer, second_factor=True)
    # They see the queue, without the actions
    page = text(client.get(QUEUE, headers=EN))
    assert held[0].number in page
    assert "approve_selected" not in page
    # And cannot approve by posting anyway
    client.post(QUEUE, {"action": "approve_selected", "_selected_action": [held[0].pk]})
    assert client.post(f"{QUEUE}{held[0].pk}/approve/").status_code == HTTPStatus.FORBIDDEN
    held[0].refresh_from_db()
    assert held[0].status == OrderStatus.PENDING_REVIEW


def test_a_buyer_cannot_open_the_admin(client, held, purchaser) -> None:
    sign_in(client, purchaser, second_factor=True)
    response = client.post(f"{QUEUE}{held[0].pk}/approve/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/ops/login/")


# --- Orders --------------------------------------------------------------------------------------


def test_orders_are_searched_by_number_and_cannot_be_edited(admin_client, company, purchaser):
    orders = [factories.draft(company, purchaser) for _ in range(2)]
    page = text(admin_client.get("/ops/cards/order/", {"q": orders[0].number}, headers=EN))
    assert orders[0].number in page
    assert orders[1].number not in page
    assert admin_client.get("/ops/cards/order/add/").status_code == HTTPStatus.FORBIDDEN
    change = admin_client.post(f"/ops/cards/order/{orders[0].pk}/change/", {"status": "funded"})
    assert change.status_code == HTTPStatus.FORBIDDEN
    orders[0].refresh_from_db()
    assert orders[0].status == OrderStatus.DRAFT
    delete = admin_client.post(f"/ops/cards/order/{orders[0].pk}/delete/", {"post": "yes"})
    assert delete.status_code == HTTPStatus.FORBIDDEN


# --- The catalog ---------------------------------------------------------------------------------

PRODUCT_FORM = {
    "name": "节日礼品卡",
    "name_en": "Holiday gift card",
    "description": "",
    "card_type": "bearer",
    "face_values": "100, 200, 500, 1000",
    "face_min": "",
    "face_max": "",
    "face_step": "",
    "validity_months": "36",
    "active": "on",
}


def test_an_operator_adds_a_product_with_values_typed_as_a_list(admin_client) -> None:
    response = admin_client.post("/ops/cards/cardproduct/add/", PRODUCT_FORM, headers=EN)
    assert response.status_code == HTTPStatus.FOUND
    product = CardProduct.objects.get()
    assert product.listed_face_values() == [Decimal(v) for v in ("100", "200", "500", "1000")]
    page = text(admin_client.get(f"/ops/cards/cardproduct/{product.pk}/change/", headers=EN))
    assert "100.00, 200.00, 500.00, 1000.00" in page


def test_a_bearer_product_under_3_years_shows_the_rule_not_a_database_error(admin_client) -> None:
    response = admin_client.post(
        "/ops/cards/cardproduct/add/", {**PRODUCT_FORM, "validity_months": "24"}, headers=EN
    )
    assert response.status_code == HTTPStatus.OK
    assert "Prepaid card rule: bearer cards must be valid at least 36 months (3 years)." in text(
        response
    )
    assert not CardProduct.objects.exists()


def test_a_bearer_face_value_over_1000_shows_the_rule(admin_client) -> None:
    response = admin_client.post(
        "/ops/cards/cardproduct/add/", {**PRODUCT_FORM, "face_values": "500, 2000"}, headers=EN
    )
    assert "Prepaid card rule: bearer cards have a face value of at most ¥1,000.00." in text(
        response
    )
    ranged = {
        **PRODUCT_FORM,
        "card_type": "registered",
        "validity_months": "",
        "face_values": "",
        "face_min": "100",
        "face_max": "6000",
        "face_step": "100",
    }
    response = admin_client.post("/ops/cards/cardproduct/add/", ranged, headers=EN)
    assert "Prepaid card rule: registered cards have a face value of at most ¥5,000.00." in text(
        response
    )
    assert not CardProduct.objects.exists()


def test_adding_a_product_writes_one_audit_row_naming_the_operator(admin_client, ops) -> None:
    admin_client.post(
        "/ops/cards/cardproduct/add/", PRODUCT_FORM, REMOTE_ADDR="198.51.100.31", headers=EN
    )
    product = CardProduct.objects.get()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.ip) == (
        CardsAction.PRODUCT_CREATED,
        ops,
        "198.51.100.31",
    )
    assert event.object_id == str(product.public_id)
    assert event.changes["face_values"] == ["100.00", "200.00", "500.00", "1000.00"]


def test_editing_a_product_writes_one_audit_row_with_the_changed_fields(admin_client, ops) -> None:
    admin_client.post("/ops/cards/cardproduct/add/", PRODUCT_FORM, headers=EN)
    product = CardProduct.objects.get()
    before = AuditEvent.objects.count()
    # The face values are typed differently but mean the same: not a change.
    changed = {
        **PRODUCT_FORM,
        "name_en": "Spring gift card",
        "validity_months": "48",
        "face_values": "1000, 500, 200, 100",
    }
    response = admin_client.post(
        f"/ops/cards/cardproduct/{product.pk}/change/", changed, headers=EN
    )
    assert response.status_code == HTTPStatus.FOUND
    product.refresh_from_db()
    assert (product.name_en, product.validity_months) == ("Spring gift card", 48)
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert [(e.action, e.actor) for e in events] == [(CardsAction.PRODUCT_UPDATED, ops)]
    assert events[0].changes == {
        "name_en": ["Holiday gift card", "Spring gift card"],
        "validity_months": [36, 48],
    }
    # Saving again unchanged writes nothing more
    admin_client.post(f"/ops/cards/cardproduct/{product.pk}/change/", changed, headers=EN)
    assert AuditEvent.objects.count() == before + 1


def test_products_are_taken_off_sale_not_deleted(admin_client) -> None:
    product = factories.product()
    url = f"/ops/cards/cardproduct/{product.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert CardProduct.objects.filter(pk=product.pk).exists()


# --- Pricing and credit lines --------------------------------------------------------------------


def test_pricing_saved_in_the_admin_goes_through_the_audited_service(admin_client, ops) -> None:
    company = factories.company()
    response = admin_client.post(
        "/ops/billing/companypricing/add/",
        {"company": company.pk, "mode": "discount", "rate": "2.00"},
        REMOTE_ADDR="198.51.100.30",
    )
    assert response.status_code == HTTPStatus.FOUND
    pricing = CompanyPricing.objects.get(company=company)
    assert (pricing.mode, pricing.rate) == ("discount", Decimal("2.00"))
    event = AuditEvent.objects.get(action=BillingAction.PRICING_SET)
    assert (event.actor, event.ip, event.company) == (ops, "198.51.100.30", company)
    # Changing it is audited too
    admin_client.post(
        f"/ops/billing/companypricing/{pricing.pk}/change/", {"mode": "fee", "rate": "1.50"}
    )
    assert AuditEvent.objects.filter(action=BillingAction.PRICING_SET).count() == 2
    pricing.refresh_from_db()
    assert (pricing.mode, pricing.rate) == ("fee", Decimal("1.50"))


def test_a_rate_of_100_percent_shows_the_services_message(admin_client) -> None:
    company = factories.company()
    response = admin_client.post(
        "/ops/billing/companypricing/add/",
        {"company": company.pk, "mode": "discount", "rate": "100"},
        headers=EN,
    )
    assert response.status_code == HTTPStatus.OK
    assert "The rate must be at least 0 and below 100 percent." in text(response)
    assert not CompanyPricing.objects.exists()


def test_a_credit_line_saved_in_the_admin_is_audited_with_the_ip(admin_client, ops) -> None:
    company = factories.company()
    response = admin_client.post(
        "/ops/billing/creditline/add/",
        {
            "company": company.pk,
            "limit": "50000.00",
            "net_days": "30",
            "grace_days": "5",
            "status": "active",
        },
        REMOTE_ADDR="198.51.100.31",
    )
    assert response.status_code == HTTPStatus.FOUND
    line = CreditLine.objects.get(company=company)
    assert (line.limit, line.net_days, line.grace_days) == (Decimal("50000.00"), 30, 5)
    event = AuditEvent.objects.get(action=BillingAction.CREDIT_LINE_SET)
    assert (event.actor, event.ip) == (ops, "198.51.100.31")
    # An operator suspends it from its page
    admin_client.post(
        f"/ops/billing/creditline/{line.pk}/change/",
        {"limit": "50000.00", "net_days": "30", "grace_days": "5", "status": "suspended"},
    )
    line.refresh_from_db()
    assert line.status == "suspended"
    assert AuditEvent.objects.filter(action=BillingAction.CREDIT_LINE_SET).count() == 2


def test_a_bad_credit_line_shows_the_services_messages(admin_client) -> None:
    company = factories.company()
    response = admin_client.post(
        "/ops/billing/creditline/add/",
        {
            "company": company.pk,
            "limit": "1000",
            "net_days": "365",
            "grace_days": "120",
            "status": "active",
        },
        headers=EN,
    )
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "Net days must be between 1 and 180." in page
    assert "Grace days must be between 0 and 90." in page
    assert not CreditLine.objects.exists()


def test_the_credit_line_list_shows_used_and_available(admin_client, company, purchaser) -> None:
    factories.submitted(company, purchaser, face_value="1000", quantity=5)  # 5,000 invoiced
    page = text(admin_client.get("/ops/billing/creditline/", headers=EN))
    assert "¥100,000.00" in page
    assert "¥5,000.00" in page
    assert "¥95,000.00" in page


# --- Evidence is read-only -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["billing/invoice", "billing/journalentry", "billing/posting", "billing/account"]
)
def test_invoices_and_the_journal_cannot_be_added_changed_or_deleted(
    admin_client, company, purchaser, model
) -> None:
    factories.submitted(company, purchaser, quantity=1)
    from django.apps import apps

    app_label, model_name = model.split("/")
    obj = apps.get_model(app_label, model_name).objects.first()
    base = f"/ops/{model}/"
    assert admin_client.get(base).status_code == HTTPStatus.OK
    assert admin_client.get(f"{base}add/").status_code == HTTPStatus.FORBIDDEN
    assert admin_client.get(f"{base}{obj.pk}/change/").status_code == HTTPStatus.OK  # view only
    assert admin_client.post(f"{base}{obj.pk}/change/", {}).status_code == HTTPStatus.FORBIDDEN
    delete = admin_client.post(f"{base}{obj.pk}/delete/", {"post": "yes"})
    assert delete.status_code == HTTPStatus.FORBIDDEN


def test_an_invoice_page_shows_its_lines(admin_client, company, purchaser) -> None:
    order = factories.submitted(company, purchaser, quantity=3)
    invoice = Invoice.objects.get(order_number=order.number)
    page = text(admin_client.get(f"/ops/billing/invoice/{invoice.pk}/change/", headers=EN))
    assert invoice.number in page
    # In the reader's language, product name included (issue 12, defect 4).
    assert "Gift card, face value ¥100.00" in page


def test_registrations_show_only_the_masked_id_and_cannot_be_deleted(
    admin_client, company, purchaser
) -> None:
    number = factories.resident_id()
    order = factories.draft(company, purchaser, registration=factories.registration(number))
    registration = order.registration
    listing = text(admin_client.get("/ops/cards/purchaseregistration/", headers=EN))
    page = text(
        admin_client.get(f"/ops/cards/purchaseregistration/{registration.pk}/change/", headers=EN)
    )
    for html in (listing, page):
        assert registration.id_number_masked in html
        assert number not in html
    assert "ciphertext" not in page
    url = f"/ops/cards/purchaseregistration/{registration.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert (
        admin_client.get("/ops/cards/purchaseregistration/add/").status_code == HTTPStatus.FORBIDDEN
    )


def test_the_company_page_has_the_approval_threshold(admin_client, company) -> None:
    page = text(admin_client.get(f"/ops/portal/company/{company.pk}/change/", headers=EN))
    assert 'name="approval_threshold"' in page
