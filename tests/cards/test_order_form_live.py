"""The order form as the buyer types (issue 14, point 4): the face-value field takes the shape
of the line's product, the price panel follows the lines without saving anything, and each
prepaid-card rule is explained next to the field it concerns (linked by aria-describedby).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import CreditReservation, Invoice
from cards.models import Order, OrderLine, PurchaseRegistration
from portal.models import AuditEvent
from tests import factories
from tests.cards.test_order_form_resend import shown_form_fields
from tests.cards.test_views import Shop, form_data, selected_face_value, shop, text_of
from tests.conftest import sign_in

__all__ = ["shop"]  # the fixture, imported to be used here

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

HTMX = {"HX-Request": "true"}


def face_value_field(client: Client, product: Any, value: str = "", row: int = 0) -> Any:
    prefix = f"lines-{row}"
    return client.get(
        "/orders/new/face-value/",
        {"row": prefix, f"{prefix}-product": str(product.public_id), f"{prefix}-face_value": value},
        headers=HTMX,
    )


def preview(client: Client, lines: list[dict[str, Any]], **fields: Any) -> Any:
    data = form_data(lines, action="calculate", **fields)
    data.pop("action")
    return client.post("/orders/new/preview/", data, headers=HTMX)


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", q["sql"], flags=re.I)
    ]


# --- The face-value field fits the product --------------------------------------------------------


def test_a_product_with_a_list_gets_a_select_of_its_values(shop: Shop) -> None:
    response = face_value_field(shop.client("purchaser"), shop.product, value="500.00")

    body = response.content.decode()
    assert response.status_code == 200
    assert '<select name="lines-0-face_value"' in body
    options = re.findall(r'<option value="([^"]*)"', body)
    assert options == ["", "100", "200", "500", "1000"]
    assert '<option value="500" selected>¥500.00</option>' in body
    # The rule, next to the field, in the one wording of the prepaid card rules.
    assert "Bearer (unregistered): at most ¥1,000.00 a card." in text_of(response)
    described = re.search(r'aria-describedby="([^"]+)"', body)
    assert described is not None
    assert described[1].split() == ["id_lines-0-face_value_helptext", "face-value-rules"]
    assert 'id="id_lines-0-face_value_helptext"' in body
    # The price panel asks again once the new field is in place.
    assert response["HX-Trigger-After-Settle"] == '{"order-line-changed": {}}'


def test_a_product_with_a_range_gets_a_number_with_its_bounds_and_step(shop: Shop) -> None:
    ranged = factories.product(name="任意面值卡", face_min="50", face_max="1000", face_step="50")

    response = face_value_field(shop.client("purchaser"), ranged, value="1,000", row=2)

    body = response.content.decode()
    field = re.search(r'<input type="number" name="lines-2-face_value"[^>]*>', body)
    assert field is not None, body
    for attribute in ('min="50"', 'max="1000"', 'step="50"', 'value="1000"'):
        assert attribute in field[0]
    assert "¥50.00 to ¥1,000.00, in steps of ¥50.00." in text_of(response)


def test_a_value_the_product_does_not_offer_is_kept_for_the_check_to_name(shop: Shop) -> None:
    response = face_value_field(shop.client("purchaser"), shop.product, value="150")

    assert '<option value="150" selected>150 (not offered)</option>' in response.content.decode()


def test_without_a_product_the_face_value_is_free_text(shop: Shop) -> None:
    page = shop.client("purchaser").get("/orders/new/").content.decode()

    assert re.search(r'<input type="text" name="lines-0-face_value"', page)
    assert _described_by(page, "lines-0-face_value") == ["face-value-rules"]
    # The product select asks for the field that fits, with htmx.
    product = re.search(r'<select name="lines-0-product"[^>]*>', page)
    assert product is not None
    assert 'hx-get="/orders/new/face-value/"' in product[0]
    assert 'hx-target="#id_lines-0-face_value_slot"' in product[0]
    assert 'id="id_lines-0-face_value_slot"' in page


def test_the_face_value_field_refuses_a_row_outside_the_form(shop: Shop) -> None:
    client = shop.client("purchaser")

    answer = client.get("/orders/new/face-value/", {"row": "lines-100"}, headers=HTMX)
    other = client.get("/orders/new/face-value/", {"row": "note"}, headers=HTMX)

    assert answer.status_code == other.status_code == 400


def test_a_viewer_cannot_use_the_live_form(shop: Shop) -> None:
    client = shop.client("viewer")

    assert face_value_field(client, shop.product).status_code == 403
    assert preview(client, []).status_code == 403


def test_after_calculate_without_javascript_the_select_keeps_the_value(shop: Shop) -> None:
    lines = [{"product": shop.product, "face_value": "200", "quantity": "2"}]

    response = shop.client("purchaser").post("/orders/new/", form_data(lines, action="calculate"))

    assert selected_face_value(response.content.decode(), 0) == "200"


# --- The live price: nothing saved -------------------------------------------------------------


def test_a_preview_prices_the_lines_and_writes_nothing(shop: Shop) -> None:
    factories.pricing(shop.company, "discount", "2.50")
    client = shop.client("purchaser")
    # The form shown first, as in a browser (the session's idle clock is set by that request).
    client.get("/orders/new/")
    lines = [
        {"product": shop.product, "face_value": "100", "quantity": "10"},
        {"product": shop.product, "face_value": "1000", "quantity": "12"},
    ]
    tables = (Order, OrderLine, PurchaseRegistration, Invoice, CreditReservation, AuditEvent)
    before = [model.objects.count() for model in tables]

    with CaptureQueriesContext(connection) as queries:
        response = preview(client, lines)

    assert response.status_code == 200
    assert writes(queries) == []
    assert [model.objects.count() for model in tables] == before
    page = text_of(response)
    assert "Cards 22" in page
    assert "Face value total ¥13,000.00" in page
    assert "Price ¥12,675.00" in page
    assert "Available credit ¥100,000.00" in page
    assert "more than your available credit" not in page
    assert "need one of your company's approvers" in page
    assert "needs a real-name purchase registration" in page
    # Each line's amount and the table's total, swapped in out of band.
    body = response.content.decode()
    assert '<span id="lines-0-amount" hx-swap-oob="true">¥975.00</span>' in body
    assert '<span id="lines-1-amount" hx-swap-oob="true">¥11,700.00</span>' in body
    assert '<span id="lines-total" hx-swap-oob="true">¥12,675.00</span>' in body


def test_a_preview_over_the_available_credit_warns(shop: Shop) -> None:
    lines = [{"product": shop.product, "face_value": "1000", "quantity": "200"}]

    response = preview(shop.client("purchaser"), lines)

    page = text_of(response)
    assert "Price ¥200,000.00" in page
    assert "Available credit ¥100,000.00" in page
    assert "This order is more than your available credit" in page
    assert "Orders of ¥500,000.00 or more are also reviewed" not in page
    assert 'data-testid="credit-warning"' in response.content.decode()
    # Paying by bank transfer, credit is not in question.
    by_transfer = text_of(preview(shop.client("purchaser"), lines, payment_method="bank_transfer"))
    assert "Price ¥200,000.00" in by_transfer
    assert "available credit" not in by_transfer.lower()


def test_a_preview_leaves_out_lines_not_filled_in_and_names_lines_that_break_a_rule(
    shop: Shop,
) -> None:
    ranged = factories.product(name="任意面值卡", face_min="50", face_max="1000", face_step="50")
    lines = [
        {"product": shop.product, "face_value": "100", "quantity": "1"},
        {"product": shop.product, "face_value": "", "quantity": ""},
        {"product": ranged, "face_value": "1500", "quantity": "2"},
    ]

    page = text_of(preview(shop.client("purchaser"), lines))

    assert "Price ¥100.00" in page
    assert "Line 2 is not counted until it has a product, a face value and a quantity." in page
    assert "Line 3, face value “1500”: Prepaid card rule: bearer cards have a face value" in page
    assert "counts only the lines that can be priced" in page


def test_an_empty_form_previews_to_a_hint(shop: Shop) -> None:
    response = preview(shop.client("purchaser"), [], rows=3)

    assert response.status_code == 200
    assert "The price appears here as soon as a line has" in text_of(response)


def test_a_preview_is_post_only(shop: Shop) -> None:
    assert shop.client("purchaser").get("/orders/new/preview/").status_code == 405


def test_previews_do_not_use_up_the_forms_token(shop: Shop) -> None:
    client = shop.client("purchaser")
    shown: dict[str, Any] = dict(shown_form_fields(client))
    lines = [{"product": shop.product, "face_value": "100", "quantity": "2"}]

    for _ in range(3):
        assert preview(client, lines, **shown).status_code == 200
    first = client.post("/orders/new/", form_data(lines, action="save", **shown))
    again = client.post("/orders/new/", form_data(lines, action="save", **shown))

    order = Order.objects.get(company=shop.company)
    assert first["Location"] == again["Location"] == f"/orders/{order.number}/"


# --- Rules next to the fields they concern -------------------------------------------------------


def _described_by(page: str, name: str) -> list[str]:
    tag = re.search(rf'<(?:input|select|textarea)[^>]*name="{name}"[^>]*>', page)
    assert tag is not None, name
    described = re.search(r'aria-describedby="([^"]+)"', tag[0])
    return described[1].split() if described else []


def test_each_rule_is_linked_to_the_field_it_concerns(shop: Shop) -> None:
    response = shop.client("purchaser").get("/orders/new/")
    page = response.content.decode()
    text = text_of(response)

    assert "face-value-rules" in _described_by(page, "lines-0-face_value")
    assert "bearer cards have a face value of at most ¥1,000.00" in text
    assert "registered cards have a face value of at most ¥5,000.00" in text
    assert _described_by(page, "lines-1-quantity") == ["quantity-rules"]
    assert "Quantity: whole cards, 1 to 1,000,000 on a line." in text
    assert "registration-rule" in _described_by(page, "agent_name")
    assert _described_by(page, "id_number") == ["id_id_number_helptext", "registration-rule"]
    # Payment: the credit terms, only as the company has them.
    fieldset = re.search(r'<fieldset[^>]*id="id_payment_method_fieldset"[^>]*>', page)
    assert fieldset is not None
    assert 'aria-describedby="id_payment_method_helptext' in fieldset[0]
    assert "On credit: we invoice the order when it is approved and you pay within 30 days" in text


def test_without_a_credit_line_the_payment_help_says_why(shop: Shop) -> None:
    company = factories.company("No Credit Co., Ltd.")
    purchaser = factories.member(company, "purchaser")
    client = Client()
    sign_in(client, purchaser, second_factor=False)

    text = text_of(client.get("/orders/new/"))

    assert "has no credit line; pay by bank transfer" in text
    assert "On credit: we invoice" not in text


def test_htmx_is_served_from_our_static_files_under_the_pages_nonce(shop: Shop) -> None:
    response = shop.client("purchaser").get("/orders/new/")

    page = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None
    scripts = re.findall(r"<script[^>]*>", page)
    assert any("/static/django_htmx/htmx-2" in tag for tag in scripts)
    assert any("/static/portal/order_form.js" in tag for tag in scripts)
    assert all(f'nonce="{nonce[1]}"' in tag and "src=" in tag for tag in scripts)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', page)
    assert config is not None
    assert json.loads(config[1])["allowEval"] is False
    assert json.loads(config[1])["includeIndicatorStyles"] is False
    assert "<style" not in page
    assert " style=" not in page


def test_a_preview_at_the_platform_limit_says_it_will_be_reviewed(
    shop: Shop, settings: Any
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("5000.00")
    lines = [{"product": shop.product, "face_value": "1000", "quantity": "5"}]

    page = text_of(preview(shop.client("purchaser"), lines))

    assert "Orders of ¥5,000.00 or more are also reviewed by our risk team" in page
