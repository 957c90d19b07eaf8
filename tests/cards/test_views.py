"""The buyer's order pages: what each person sees and can do, through the portal's HTML."""

from __future__ import annotations

import datetime
import html
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Invoice
from cards.models import CardProduct, CardType, Order, OrderStatus, PaymentMethod
from cards.services.orders import LineInput, RegistrationInput, order_create
from cards.services.workflow import order_approve, order_submit
from portal.models import Company, Role, User
from portal.validators import resident_id_check_character
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

ID_17 = "11010519491231002"
RESIDENT_ID = ID_17 + resident_id_check_character(ID_17)
NEEDS_2FA = {Role.OWNER, Role.APPROVER, Role.FINANCE}


@dataclass
class Shop:
    company: Company
    people: dict[str, User]
    product: CardProduct
    registered: CardProduct

    def client(self, role: str) -> Client:
        client = Client()
        sign_in(client, self.people[role], second_factor=role in NEEDS_2FA)
        return client


@pytest.fixture
def shop() -> Shop:
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000.00")
    factories.credit_line(company, "100000.00")
    return Shop(
        company=company,
        people=factories.team(company),
        product=factories.product(),
        registered=factories.product(
            name="实名卡", card_type=CardType.REGISTERED, face_values=["2000", "5000"]
        ),
    )


def text_of(response: Any) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def selected_face_value(page: str, row: int) -> str | None:
    """The option chosen in line ``row``'s face-value select (a product with a list)."""
    select = re.search(rf'<select name="lines-{row}-face_value".*?</select>', page, flags=re.S)
    assert select is not None, f"line {row} has no face-value select"
    chosen = re.search(r'<option value="([^"]*)" selected>', select[0])
    return chosen[1] if chosen else None


def form_data(
    lines: list[dict[str, Any]],
    *,
    action: str,
    rows: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """What the order form posts: order fields, registration fields, and the lines formset."""
    rows = max(rows or 0, len(lines))
    data: dict[str, Any] = {
        "action": action,
        "payment_method": PaymentMethod.CREDIT,
        "delivery_method": "file",
        "client_reference": "",
        "note": "",
        "agent_name": "",
        "id_type": "",
        "id_number": "",
        "contact_phone": "",
        "lines-TOTAL_FORMS": str(rows),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
    }
    data.update(fields)
    for index in range(rows):
        line = lines[index] if index < len(lines) else {}
        for name in (
            "product",
            "face_value",
            "quantity",
            "recipient_name",
            "recipient_mobile",
            "recipient_email",
            "employee_id",
            "cost_center",
        ):
            value = line.get(name, "")
            if isinstance(value, CardProduct):
                value = str(value.public_id)
            data[f"lines-{index}-{name}"] = value
    return data


def make_order(shop: Shop, role: str = "purchaser", **kwargs: Any) -> Order:
    lines = kwargs.pop("lines", None) or [
        LineInput(product=str(shop.product.public_id), face_value="100", quantity=30)
    ]
    return order_create(company=shop.company, actor=shop.people[role], lines=lines, **kwargs)


def waiting_order(shop: Shop, role: str = "purchaser") -> Order:
    order = order_submit(order=make_order(shop, role), actor=shop.people[role])
    assert order.status == OrderStatus.PENDING_APPROVAL
    return order


# --- Catalog --------------------------------------------------------------------------------------


def test_the_catalog_lists_products_on_sale_with_type_values_and_validity(shop: Shop) -> None:
    retired = factories.product(name="停售卡", active=False)
    CardProduct.objects.filter(pk=retired.pk).update(name_en="Retired card")

    page = text_of(shop.client("viewer").get("/catalog/"))

    assert "Gift card" in page
    assert "Bearer (unregistered)" in page
    assert "100 / 200 / 500 / 1,000" in page
    assert "36 months" in page
    assert "Registered" in page
    assert "Does not expire" in page
    assert "Retired card" not in page


# --- Creating a draft -----------------------------------------------------------------------------


def test_a_purchaser_saves_a_draft_with_two_lines(shop: Shop) -> None:
    client = shop.client("purchaser")
    lines = [
        {"product": shop.product, "face_value": "100", "quantity": "10"},
        {
            "product": shop.product,
            "face_value": "200",
            "quantity": "5",
            "recipient_name": "王小明",
            "recipient_email": "xm@example.com",
            "cost_center": "HR-01",
        },
    ]

    response = client.post(
        "/orders/new/",
        form_data(lines, action="save", rows=3, client_reference="PO-7", note="Spring festival"),
    )

    order = Order.objects.get(company=shop.company)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.number}/"
    assert order.status == OrderStatus.DRAFT
    assert order.client_reference == "PO-7"
    assert [(line.face_value, line.quantity) for line in order.lines.all()] == [
        (Decimal("100.00"), 10),
        (Decimal("200.00"), 5),
    ]
    assert order.lines.get(position=2).cost_center == "HR-01"
    page = text_of(client.get(response["Location"]))
    assert f"Draft {order.number} saved" in page
    assert "Draft" in page
    assert "¥2,000.00" in page
    assert "王小明" in page
    assert "PO-7" in page


def test_calculate_price_shows_line_and_total_prices_without_saving(shop: Shop) -> None:
    factories.pricing(shop.company, "discount", "2.50")
    lines = [
        {"product": shop.product, "face_value": "100", "quantity": "10"},
        {"product": shop.product, "face_value": "1,000", "quantity": "12"},
    ]

    response = shop.client("purchaser").post("/orders/new/", form_data(lines, action="calculate"))

    assert response.status_code == 200
    page = text_of(response)
    assert "¥97.50" in page  # unit price of a 100 card at 2.5% off
    assert "¥975.00" in page  # line 1 amount
    assert "¥11,700.00" in page  # line 2 amount
    assert "¥13,000.00" in page  # face value total
    assert "Discount ¥325.00" in page
    assert "Price ¥12,675.00" in page
    assert "Available credit ¥100,000.00" in page
    assert "needs a real-name purchase registration" in page
    assert "need one of your company's approvers" in page
    assert not Order.objects.exists()
    # The form keeps what was typed: "1,000" is the listed value 1,000, chosen in its select.
    assert '<option value="1000" selected>¥1,000.00</option>' in response.content.decode()


def test_line_errors_name_the_line_the_field_and_the_value(shop: Shop) -> None:
    lines = [
        {"product": shop.product, "face_value": "100", "quantity": "1"},
        {"product": shop.product, "face_value": "150", "quantity": "0"},
        {"product": shop.product, "face_value": "99.999", "quantity": "3"},
    ]

    response = shop.client("purchaser").post("/orders/new/", form_data(lines, action="save"))

    assert response.status_code == 200
    page = text_of(response)
    assert "The order was not saved" in page
    assert "Line 2, face value “150”: Gift card comes in 100 / 200 / 500 / 1,000." in page
    assert "Line 2, quantity “0”: give a whole number of cards from 1 to 1,000,000." in page
    assert "Line 3, face value “99.999”" in page
    assert "more than 2 decimal places" in page
    # The rows in error are marked, and row 1 is not.
    body = response.content.decode()
    assert body.count('class="line has-error"') == 2
    assert not Order.objects.exists()


def test_errors_count_lines_as_filled_in_skipping_blank_rows(shop: Shop) -> None:
    data = form_data(
        [
            {},
            {"product": shop.product, "face_value": "100", "quantity": "2"},
            {},
            {"product": shop.product, "face_value": "3000", "quantity": "1"},
        ],
        action="calculate",
    )

    page = text_of(shop.client("purchaser").post("/orders/new/", data))

    assert (
        "Line 2, face value “3000”: Prepaid card rule: bearer cards have a face value of at most "
        "¥1,000.00." in page
    )


def test_bearer_face_value_cap_and_recipient_details_are_checked(shop: Shop) -> None:
    lines = [
        {
            "product": shop.product,
            "face_value": "100",
            "quantity": "1",
            "recipient_mobile": "12345",
            "recipient_email": "not-an-email",
        }
    ]

    page = text_of(shop.client("purchaser").post("/orders/new/", form_data(lines, action="save")))

    assert "Line 1, mobile “12345”: a mainland mobile number has 11 digits" in page
    assert "Line 1, email “not-an-email”: not an email address." in page


def test_a_payment_method_other_than_credit_or_transfer_is_refused_with_the_rule(
    shop: Shop,
) -> None:
    lines = [{"product": shop.product, "face_value": "100", "quantity": "1"}]

    response = shop.client("purchaser").post(
        "/orders/new/", form_data(lines, action="save", payment_method="cash")
    )

    page = text_of(response)
    assert "Prepaid card rule: companies pay only on credit terms or by bank transfer" in page
    assert "“cash” is not accepted" in page
    assert not Order.objects.exists()


def test_an_empty_form_says_an_order_needs_a_line(shop: Shop) -> None:
    page = text_of(shop.client("purchaser").post("/orders/new/", form_data([], action="save")))

    assert "An order needs at least one line." in page


def test_a_reference_already_used_is_shown_next_to_the_reference(shop: Shop) -> None:
    existing = make_order(shop, client_reference="PO-1")
    lines = [{"product": shop.product, "face_value": "100", "quantity": "1"}]

    response = shop.client("purchaser").post(
        "/orders/new/", form_data(lines, action="save", client_reference="PO-1")
    )

    said = f"Your reference “PO-1” is already used by order {existing.number}."
    assert said in text_of(response)
    assert Order.objects.count() == 1


def test_registration_errors_appear_next_to_their_fields(shop: Shop) -> None:
    lines = [{"product": shop.registered, "face_value": "2000", "quantity": "1"}]

    response = shop.client("purchaser").post(
        "/orders/new/",
        form_data(
            lines,
            action="save",
            agent_name="",
            id_type="resident_id",
            id_number="110105194912310020",
            contact_phone="12",
        ),
    )

    body = response.content.decode()
    assert "Give the agent&#x27;s full name." in body
    assert "does not check out" in body
    assert "Give a contact phone number." in body
    assert body.count('class="field has-error"') >= 3
    assert not Order.objects.exists()


def test_add_lines_shows_more_empty_rows_and_keeps_what_was_typed(shop: Shop) -> None:
    lines = [{"product": shop.product, "face_value": "500", "quantity": "4"}]

    response = shop.client("purchaser").post(
        "/orders/new/", form_data(lines, action="add_lines", rows=3)
    )

    body = response.content.decode()
    assert body.count('data-testid="line-row"') == 6
    assert 'name="lines-TOTAL_FORMS" value="6"' in body
    assert selected_face_value(body, 0) == "500"
    assert "The order was not saved" not in body
    assert not Order.objects.exists()


def test_the_new_order_form_explains_when_registration_is_required(shop: Shop) -> None:
    response = shop.client("purchaser").get("/orders/new/")

    page = text_of(response)
    assert response.content.decode().count('data-testid="line-row"') == 3
    assert "registered cards and for orders of ¥10,000.00 or more" in page
    assert "Calculate price" in page
    assert "Save draft" in page
    assert "Save and submit" in page


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.APPROVER])
def test_roles_that_do_not_order_cannot_create_an_order(shop: Shop, role: str) -> None:
    client = shop.client(role)
    lines = [{"product": shop.product, "face_value": "100", "quantity": "1"}]

    assert client.get("/orders/new/").status_code == 403
    assert client.post("/orders/new/", form_data(lines, action="save")).status_code == 403
    assert not Order.objects.exists()
    assert "New order" not in text_of(client.get("/orders/"))


# --- Save and submit ------------------------------------------------------------------------------


def test_save_and_submit_over_the_threshold_goes_to_the_approvers(shop: Shop) -> None:
    client = shop.client("purchaser")
    lines = [
        {"product": shop.product, "face_value": "100", "quantity": "10"},
        {"product": shop.product, "face_value": "200", "quantity": "5"},
    ]

    response = client.post("/orders/new/", form_data(lines, action="submit"))

    order = Order.objects.get()
    assert order.status == OrderStatus.PENDING_APPROVAL
    page = text_of(client.get(response["Location"]))
    assert f"Order {order.number} submitted. It waits for one of your company's approvers." in page
    assert "Waiting for approval" in page
    assert "Submitted an order" in page  # history


def test_save_and_submit_keeps_the_draft_when_submit_refuses(shop: Shop) -> None:
    client = shop.client("purchaser")
    lines = [{"product": shop.product, "face_value": "1000", "quantity": "12"}]  # 12,000 CNY

    response = client.post("/orders/new/", form_data(lines, action="submit"))

    order = Order.objects.get()
    assert order.status == OrderStatus.DRAFT
    assert response["Location"] == f"/orders/{order.number}/"
    page = text_of(client.get(response["Location"]))
    assert f"Draft {order.number} was saved but not submitted" in page
    assert "real-name purchase registration is required" in page


def test_a_registered_order_with_registration_is_submitted_and_shows_the_id_masked(
    shop: Shop,
) -> None:
    client = shop.client("purchaser")
    lines = [{"product": shop.registered, "face_value": "5000", "quantity": "1"}]

    response = client.post(
        "/orders/new/",
        form_data(
            lines,
            action="submit",
            agent_name="李雷",
            id_type="resident_id",
            id_number=RESIDENT_ID,
            contact_phone="13800138000",
        ),
    )

    order = Order.objects.get()
    assert order.status == OrderStatus.PENDING_APPROVAL
    body = client.get(response["Location"]).content.decode()
    assert "李雷" in body
    assert order.registration is not None
    assert order.registration.id_number_masked in body
    assert RESIDENT_ID not in body


def test_a_credit_order_beyond_available_credit_is_not_submitted(shop: Shop) -> None:
    shop.company.credit_line.limit = Decimal("500.00")
    shop.company.credit_line.save()
    client = shop.client("purchaser")
    lines = [{"product": shop.product, "face_value": "100", "quantity": "6"}]

    response = client.post("/orders/new/", form_data(lines, action="submit"))

    page = text_of(client.get(response["Location"]))
    assert "Not enough credit: this order needs ¥600.00, available credit is ¥500.00." in page
    assert Order.objects.get().status == OrderStatus.DRAFT


# --- Editing a draft ------------------------------------------------------------------------------


def test_a_draft_is_changed_in_the_same_form(shop: Shop) -> None:
    order = make_order(shop, client_reference="PO-9")
    client = shop.client("purchaser")

    form = client.get(f"/orders/{order.number}/edit/")
    assert selected_face_value(form.content.decode(), 0) == "100"
    assert 'value="PO-9"' in form.content.decode()

    lines = [{"product": shop.product, "face_value": "200", "quantity": "3"}]
    response = client.post(
        f"/orders/{order.number}/edit/",
        form_data(lines, action="save", payment_method="bank_transfer", note="changed"),
    )

    assert response["Location"] == f"/orders/{order.number}/"
    order.refresh_from_db()
    assert (order.total, order.payment_method, order.note) == (
        Decimal("600.00"),
        "bank_transfer",
        "changed",
    )
    assert order.client_reference == "PO-9"
    assert "Changed a draft order" in text_of(client.get(response["Location"]))


def test_only_drafts_can_be_edited(shop: Shop) -> None:
    order = waiting_order(shop)
    client = shop.client("purchaser")

    response = client.get(f"/orders/{order.number}/edit/", follow=True)

    assert "Only a draft can be changed" in text_of(response)
    assert 'data-testid="edit"' not in response.content.decode()


# --- The order page and its actions ---------------------------------------------------------------


def test_an_approver_approves_and_the_order_is_funded_with_its_invoice(shop: Shop) -> None:
    order = waiting_order(shop)
    client = shop.client("approver")

    detail = client.get(f"/orders/{order.number}/").content.decode()
    assert 'data-testid="approve"' in detail
    assert 'data-testid="reject"' in detail

    response = client.post(f"/orders/{order.number}/approve/", follow=True)

    order.refresh_from_db()
    assert order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING)
    assert order.invoice is not None
    page = text_of(response)
    assert f"Order {order.number} approved." in page
    assert order.invoice.number in page
    assert f'href="/invoices/{order.invoice.number}/"' in response.content.decode()
    assert "Approved an order" in page
    assert "Order funded" in page
    assert "Available credit ¥97,000.00" in page


def test_the_creator_cannot_approve_their_own_order(shop: Shop) -> None:
    # The owner may approve, but not an order they created themselves.
    order = waiting_order(shop, role="owner")
    client = shop.client("owner")

    detail = client.get(f"/orders/{order.number}/")
    body = detail.content.decode()
    assert 'data-testid="approve"' not in body
    assert 'data-testid="reject"' not in body
    assert "another approver must decide" in text_of(detail)

    response = client.post(f"/orders/{order.number}/approve/", follow=True)

    assert response.status_code == 200
    assert "You created this order, so someone else must approve it." in text_of(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.VIEWER, Role.FINANCE])
def test_members_who_do_not_approve_see_no_approve_button_and_are_refused(
    shop: Shop, role: str
) -> None:
    order = waiting_order(shop, role="owner")
    client = shop.client(role)

    assert 'data-testid="approve"' not in client.get(f"/orders/{order.number}/").content.decode()
    response = client.post(f"/orders/{order.number}/approve/", follow=True)

    assert "Only owners and approvers can approve or reject orders." in text_of(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


def test_rejecting_needs_a_reason_and_the_reason_is_shown(shop: Shop) -> None:
    order = waiting_order(shop)
    client = shop.client("approver")

    refused = client.post(f"/orders/{order.number}/reject/", {"reason": "  "}, follow=True)
    assert "Give a reason; the buyer will see it." in text_of(refused)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL

    client.post(f"/orders/{order.number}/reject/", {"reason": "Budget is frozen"})

    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED
    page = text_of(shop.client("purchaser").get(f"/orders/{order.number}/"))
    assert "Rejected because: Budget is frozen" in page
    assert "Rejected an order" in page


def test_the_creator_cancels_a_funded_order_and_a_credit_note_appears(shop: Shop) -> None:
    order = waiting_order(shop)
    order_approve(order=order, actor=shop.people["approver"])
    client = shop.client("purchaser")

    response = client.post(
        f"/orders/{order.number}/cancel/", {"reason": "Wrong quantities"}, follow=True
    )

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    credit_note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    page = text_of(response)
    assert f"Order {order.number} cancelled." in page
    assert "Cancelled because: Wrong quantities" in page
    assert credit_note.number in page
    assert "Credit note" in page


def test_another_purchaser_cannot_cancel_someone_elses_order(shop: Shop) -> None:
    order = make_order(shop, role="owner")
    client = shop.client("purchaser")

    assert 'data-testid="cancel"' not in client.get(f"/orders/{order.number}/").content.decode()
    response = client.post(f"/orders/{order.number}/cancel/", {"reason": "x"}, follow=True)

    assert "Only the order's creator or an owner can cancel it." in text_of(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT


def test_submit_from_the_order_page(shop: Shop) -> None:
    order = make_order(shop)
    client = shop.client("purchaser")
    assert 'data-testid="submit"' in client.get(f"/orders/{order.number}/").content.decode()

    response = client.post(f"/orders/{order.number}/submit/", follow=True)

    assert "It waits for one of your company's approvers." in text_of(response)
    again = client.post(f"/orders/{order.number}/submit/", follow=True)
    assert "was already submitted" in text_of(again)


def test_actions_only_answer_post(shop: Shop) -> None:
    order = waiting_order(shop)
    client = shop.client("approver")

    assert client.get(f"/orders/{order.number}/approve/").status_code == 405
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


def test_a_bank_transfer_order_shows_its_pro_forma_and_payment_reference(shop: Shop) -> None:
    order = make_order(shop, payment_method=PaymentMethod.BANK_TRANSFER)
    order = order_submit(order=order, actor=shop.people["purchaser"])
    order = order_approve(order=order, actor=shop.people["approver"])
    assert order.proforma is not None

    page = text_of(shop.client("purchaser").get(f"/orders/{order.number}/"))

    assert "Waiting for payment" in page
    assert "Pro-forma invoice" in page
    assert order.proforma.number in page
    assert order.proforma.payment_reference is not None
    assert order.proforma.payment_reference in page
    assert "Available credit" not in page


def test_risk_flags_are_shown_with_their_reasons(shop: Shop, settings: Any) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("500.00")
    order = order_submit(order=make_order(shop, role="owner"), actor=shop.people["owner"])
    order = order_approve(order=order, actor=shop.people["approver"])
    assert order.status == OrderStatus.PENDING_REVIEW

    page = text_of(shop.client("viewer").get(f"/orders/{order.number}/"))

    assert "In risk review" in page
    assert "at or above the platform limit" in page


def test_lines_of_a_large_order_are_paged(shop: Shop) -> None:
    lines = [
        LineInput(product=str(shop.product.public_id), face_value="100", quantity=1)
        for _ in range(60)
    ]
    order = make_order(shop, lines=lines)
    client = shop.client("viewer")

    first = client.get(f"/orders/{order.number}/")
    second = client.get(f"/orders/{order.number}/?lines_page=2")

    assert first.content.decode().count("<tr>") - second.content.decode().count("<tr>") == 40
    assert "Page 1 of 2" in text_of(first)
    assert "?lines_page=2" in first.content.decode()


# --- Another company ------------------------------------------------------------------------------


def test_another_companys_order_is_not_found(shop: Shop) -> None:
    other = factories.company("Other Co.", approval_threshold="1000.00")
    factories.credit_line(other)
    other_people = factories.team(other)
    foreign = order_submit(
        order=order_create(
            company=other,
            actor=other_people["purchaser"],
            lines=[LineInput(product=str(shop.product.public_id), face_value="100", quantity=30)],
            client_reference="SECRET-REF",
        ),
        actor=other_people["purchaser"],
    )
    owner = shop.client("owner")

    for path in ("", "edit/"):
        assert owner.get(f"/orders/{foreign.number}/{path}").status_code == 404
    for action in ("submit", "approve", "reject", "cancel"):
        assert owner.post(f"/orders/{foreign.number}/{action}/", {"reason": "x"}).status_code == 404
    assert "SECRET-REF" not in text_of(owner.get("/orders/?q=SECRET"))
    assert foreign.number not in text_of(owner.get("/approvals/"))
    foreign.refresh_from_db()
    assert foreign.status == OrderStatus.PENDING_APPROVAL


# --- Order list -----------------------------------------------------------------------------------


def _numbers_on(response: Any) -> set[str]:
    return set(re.findall(r"PO\d{6}[0-9A-Z]{6}", text_of(response)))


def test_the_list_searches_by_number_reference_and_recipient(shop: Shop) -> None:
    plain = make_order(shop, client_reference="HR-2025-Q1")
    named = make_order(
        shop,
        lines=[
            LineInput(
                product=str(shop.product.public_id),
                face_value="100",
                quantity=1,
                recipient_name="Zhang Wei",
            )
        ],
    )
    other = make_order(shop)
    client = shop.client("viewer")

    assert _numbers_on(client.get("/orders/")) == {plain.number, named.number, other.number}
    assert _numbers_on(client.get("/orders/", {"q": "hr-2025"})) == {plain.number}
    assert _numbers_on(client.get("/orders/", {"q": "zhang"})) == {named.number}
    assert _numbers_on(client.get("/orders/", {"q": other.number[-6:]})) == {other.number}
    assert "No order matches this search." in text_of(client.get("/orders/", {"q": "nothing"}))


def test_the_list_filters_by_status_date_and_creator(shop: Shop) -> None:
    mine = make_order(shop, role="purchaser")
    owners = make_order(shop, role="owner")
    submitted = waiting_order(shop)
    old = make_order(shop)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=40))
    client = shop.client("viewer")
    today = timezone.localdate().isoformat()

    by_status = client.get("/orders/", {"status": "pending_approval"})
    assert _numbers_on(by_status) == {submitted.number}
    recent = client.get("/orders/", {"created_from": today, "created_to": today})
    assert _numbers_on(recent) == {mine.number, owners.number, submitted.number}
    older = client.get(
        "/orders/",
        {"created_to": (timezone.localdate() - datetime.timedelta(days=30)).isoformat()},
    )
    assert _numbers_on(older) == {old.number}
    by_owner = client.get("/orders/", {"creator": str(shop.people["owner"].public_id)})
    assert _numbers_on(by_owner) == {owners.number}
    # A date the form cannot read is shown as an error, and the rest of the list still works.
    bad = client.get("/orders/", {"created_from": "yesterday"})
    assert bad.status_code == 200
    assert "Enter a valid date." in text_of(bad)


def test_the_list_pages_by_25_and_keeps_the_filters_in_the_page_links(shop: Shop) -> None:
    for _ in range(27):
        make_order(shop, client_reference=None)
    make_order(shop, role="owner")
    client = shop.client("viewer")
    creator = str(shop.people["purchaser"].public_id)

    first = client.get("/orders/", {"creator": creator})
    body = first.content.decode()
    assert len(_numbers_on(first)) == 25
    assert "27 orders" in text_of(first)
    assert "Page 1 of 2" in text_of(first)
    link = re.search(r'href="(\?[^"]*page=2[^"]*)"', body)
    assert link is not None
    assert f"creator={creator}" in html.unescape(link.group(1))

    second = client.get("/orders/" + html.unescape(link.group(1)))
    assert len(_numbers_on(second)) == 2
    assert not _numbers_on(first) & _numbers_on(second)


# --- Approvals ------------------------------------------------------------------------------------


def test_approvals_lists_waiting_orders_and_labels_the_users_own(shop: Shop) -> None:
    theirs = waiting_order(shop, role="purchaser")
    own = waiting_order(shop, role="owner")
    draft = make_order(shop)

    page = shop.client("owner").get("/approvals/")

    body = page.content.decode()
    assert _numbers_on(page) == {theirs.number, own.number}
    assert draft.number not in body
    assert body.count('data-testid="own-order"') == 1
    assert _numbers_on(shop.client("approver").get("/approvals/")) == {theirs.number, own.number}


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.VIEWER, Role.FINANCE])
def test_approvals_is_for_approvers_and_owners_only(shop: Shop, role: str) -> None:
    client = shop.client(role)

    assert client.get("/approvals/").status_code == 403
    assert 'href="/approvals/"' not in client.get("/orders/").content.decode()


def test_the_navigation_links_to_orders_catalog_approvals_and_invoices(shop: Shop) -> None:
    approver = shop.client("approver").get("/orders/").content.decode()
    owner = shop.client("owner").get("/orders/").content.decode()

    for href in ('href="/orders/"', 'href="/catalog/"', 'href="/approvals/"', 'href="/invoices/"'):
        assert href in approver
    # Every member keeps their own API keys; only owners see the audit trail.
    assert 'href="/settings/api-keys/"' in owner
    assert 'href="/settings/api-keys/"' in approver
    assert 'href="/audit/"' in owner
    assert 'href="/audit/"' not in approver


def test_a_registration_on_file_is_kept_when_the_draft_is_changed(shop: Shop) -> None:
    order = make_order(
        shop,
        registration=RegistrationInput(
            agent_name="韩梅梅",
            id_type="resident_id",
            id_number=RESIDENT_ID,
            contact_phone="13800138000",
        ),
    )
    client = shop.client("purchaser")

    form = client.get(f"/orders/{order.number}/edit/")
    assert "On file: 韩梅梅" in text_of(form)
    assert RESIDENT_ID not in form.content.decode()

    lines = [{"product": shop.product, "face_value": "100", "quantity": "2"}]
    client.post(f"/orders/{order.number}/edit/", form_data(lines, action="save"))

    order.refresh_from_db()
    assert order.registration is not None
    assert order.registration.agent_name == "韩梅梅"
