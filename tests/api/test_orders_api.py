"""Orders through the API: create, submit, approve, reject, cancel, list and read, each scoped to
the key's company and limited by the key's scopes and its member's role."""

from __future__ import annotations

import pytest

from cards.models import Order, OrderStatus
from portal.models import ApiKey, IdempotencyRecord
from tests import factories
from tests.api.helpers import ORDERS, Api, buyer, key_for, line, order_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def product():
    return factories.product()


def create(api: Api, body: dict, key: str = "req-1", **headers: str):
    return api.post(ORDERS, body, idempotency_key=key, **headers)


def test_purchaser_creates_and_submits_and_approver_approves_into_a_funded_order(product):
    acme = buyer()
    response = create(acme.api("purchaser"), order_body(line(product), submit=True))

    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == OrderStatus.PENDING_APPROVAL
    assert created["total"] == "3000.00"
    assert created["face_total"] == "3000.00"
    assert created["card_count"] == 30
    assert created["lines"][0]["face_value"] == "100.00"
    assert created["lines"][0]["amount"] == "3000.00"
    assert created["created_by"] == acme.people["purchaser"].email
    assert created["client_reference"] == "req-1"
    number = created["number"]
    order = Order.objects.get(number=number)
    assert order.created_via_key == ApiKey.objects.get(user=acme.people["purchaser"])

    approved = acme.api("approver").post(f"{ORDERS}/{number}/approve")

    assert approved.status_code == 200, approved.json()
    body = approved.json()
    assert body["status"] == OrderStatus.FUNDED
    assert body["invoice_number"].startswith("INV-")
    assert body["approved_by"] == acme.people["approver"].email
    detail = acme.api("viewer").get(f"{ORDERS}/{number}").json()
    assert detail["invoice_number"] == body["invoice_number"]
    assert detail["funded_at"] is not None


def test_the_creator_cannot_approve_their_own_order(product):
    acme = buyer()
    number = create(acme.api("owner"), order_body(line(product), submit=True)).json()["number"]

    response = acme.api("owner").post(f"{ORDERS}/{number}/approve")

    assert response.status_code == 403
    assert "someone else must approve" in response.json()["detail"]
    assert Order.objects.get(number=number).status == OrderStatus.PENDING_APPROVAL


def test_a_purchaser_key_cannot_approve(product):
    acme = buyer()
    number = create(acme.api("owner"), order_body(line(product), submit=True)).json()["number"]
    response = acme.api("purchaser").post(f"{ORDERS}/{number}/approve")
    assert response.status_code == 403
    assert "Only owners and approvers" in response.json()["detail"]


def test_scopes_limit_each_action(product):
    acme = buyer()
    reader = Api(key_for(acme.company, acme.people["purchaser"], ["orders:read"]))
    response = create(reader, order_body(line(product)))
    assert response.status_code == 403
    assert "orders:write" in response.json()["detail"]
    writer = Api(key_for(acme.company, acme.people["owner"], ["orders:write"]))
    number = create(writer, order_body(line(product), submit=True)).json()["number"]
    assert writer.get(f"{ORDERS}/{number}").status_code == 403
    assert writer.post(f"{ORDERS}/{number}/approve").status_code == 403


def test_a_small_order_is_funded_on_submit(product):
    acme = buyer()
    response = create(acme.api("purchaser"), order_body(line(product, quantity=5)))
    number = response.json()["number"]
    assert response.json()["status"] == OrderStatus.DRAFT

    submitted = acme.api("purchaser").post(f"{ORDERS}/{number}/submit")

    assert submitted.status_code == 200
    assert submitted.json()["status"] == OrderStatus.FUNDED
    assert submitted.json()["invoice_number"]
    again = acme.api("purchaser").post(f"{ORDERS}/{number}/submit")
    assert again.status_code == 409
    assert number in again.json()["detail"]


def test_a_bank_transfer_order_shows_its_proforma_and_payment_reference(product):
    acme = buyer(credit=None)
    response = create(
        acme.api("purchaser"),
        order_body(line(product, quantity=5), payment_method="bank_transfer", submit=True),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == OrderStatus.AWAITING_PAYMENT
    assert body["proforma_number"].startswith("PF-")
    assert body["payment_reference"].startswith("EC")


def test_another_companys_order_is_not_found(product):
    acme, other = buyer(), buyer()
    number = create(other.api("purchaser"), order_body(line(product), submit=True)).json()["number"]

    assert acme.api("owner").get(f"{ORDERS}/{number}").status_code == 404
    assert acme.api("approver").post(f"{ORDERS}/{number}/approve").status_code == 404
    cancel = acme.api("owner").post(f"{ORDERS}/{number}/cancel", {"reason": "not ours"})
    assert cancel.status_code == 404
    assert acme.api("owner").get(ORDERS).json()["count"] == 0
    assert Order.objects.get(number=number).status == OrderStatus.PENDING_APPROVAL


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ({"face_value": "150"}, "Line 1, face value “150”"),
        ({"quantity": 0}, "Line 1, quantity “0”"),
        ({"quantity": -3}, "Line 1, quantity “-3”"),
        ({"quantity": "ten"}, "Line 1, quantity “ten”"),
        ({"face_value": "100.005"}, "more than 2 decimal places"),
        ({"face_value": 100.005}, "more than 2 decimal places"),
        ({"face_value": "1e3"}, "is not an amount"),
        ({"product": "3f1f9ec4-0000-4000-8000-000000000000"}, "not a product on sale"),
        ({"product": "not-a-uuid"}, "Line 1, product “not-a-uuid”"),
    ],
)
def test_bad_lines_are_refused_naming_line_field_and_value_and_nothing_is_created(
    product, bad_line, expected
):
    acme = buyer()
    body = order_body(line(product, quantity=2), {**line(product), **bad_line})

    response = create(acme.api("purchaser"), body)

    assert response.status_code == 400
    payload = response.json()
    assert isinstance(payload["errors"], list)
    assert any(expected.replace("Line 1", "Line 2") in message for message in payload["errors"])
    assert payload["detail"]
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_an_inactive_product_is_refused(product):
    retired = factories.product(active=False)
    acme = buyer()
    response = create(acme.api("purchaser"), order_body(line(retired)))
    assert response.status_code == 400
    assert "not a product on sale" in response.json()["errors"][0]


def test_several_problems_are_all_reported(product):
    acme = buyer()
    body = order_body(line(product, face_value="150"), line(product, quantity=0), "not an object")
    response = create(acme.api("purchaser"), body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["errors"] == {
        "lines": ["Line 3: give an object with product, face_value and quantity."]
    }
    body["lines"] = body["lines"][:2]
    payload = create(acme.api("purchaser"), body).json()
    assert len(payload["errors"]) == 2
    assert "2 problems" in payload["detail"]


def test_a_payment_method_outside_the_rules_is_refused_with_the_rule(product):
    acme = buyer()
    response = create(acme.api("purchaser"), order_body(line(product), payment_method="cash"))
    assert response.status_code == 400
    assert "Prepaid card rule" in response.json()["errors"]["payment_method"][0]
    assert not Order.objects.exists()


def test_malformed_bodies_get_field_messages(product):
    acme = buyer()
    api = acme.api("purchaser")
    missing = create(api, {"payment_method": "credit"})
    assert missing.status_code == 400
    assert "lines" in missing.json()["errors"]
    not_a_list = create(api, {"lines": "100 cards"})
    assert not_a_list.json()["errors"] == {"lines": ["Give the lines as a list of objects."]}
    broken = api.client.post(
        ORDERS, data="{not json", content_type="application/json", headers={"Idempotency-Key": "x"}
    )
    assert broken.status_code == 400
    assert "JSON" in broken.json()["detail"]
    assert not Order.objects.exists()


def test_a_large_order_needs_registration_and_shows_the_id_number_masked(product):
    acme = buyer(credit="500000.00")
    body = order_body(line(product, face_value="1000", quantity=10), submit=True)
    refused = create(acme.api("purchaser"), body)
    assert refused.status_code == 400
    assert "registration" in refused.json()["errors"]
    assert not Order.objects.exists()

    body["registration"] = {
        "agent_name": "王小明",
        "id_type": "passport",
        "id_number": "E12345678",
        "contact_phone": "13800138000",
    }
    response = create(acme.api("purchaser"), body, key="req-2")

    assert response.status_code == 201, response.json()
    registration = response.json()["registration"]
    assert registration["agent_name"] == "王小明"
    assert registration["id_number"] != "E12345678"
    assert "E12345678" not in response.text
    assert "*" in registration["id_number"]


def test_reject_needs_a_reason_and_cancel_closes_the_order(product):
    acme = buyer()
    first = create(acme.api("purchaser"), order_body(line(product), submit=True), key="a")
    number = first.json()["number"]
    no_reason = acme.api("approver").post(f"{ORDERS}/{number}/reject", {})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]
    rejected = acme.api("approver").post(f"{ORDERS}/{number}/reject", {"reason": "Too many"})
    assert rejected.status_code == 200
    assert rejected.json()["status"] == OrderStatus.REJECTED
    assert rejected.json()["closing_reason"] == "Too many"

    second = create(acme.api("purchaser"), order_body(line(product), submit=True), key="b")
    number = second.json()["number"]
    cancelled = acme.api("purchaser").post(f"{ORDERS}/{number}/cancel", {"reason": "Typo"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == OrderStatus.CANCELLED
    late = acme.api("approver").post(f"{ORDERS}/{number}/approve")
    assert late.status_code == 409


def test_list_filters_searches_and_pages(product):
    acme = buyer()
    api = acme.api("purchaser")
    numbers = []
    for index in range(3):
        body = order_body(line(product, quantity=2), client_reference=f"PO-ERP-{index}")
        numbers.append(create(api, body, key=f"k{index}").json()["number"])
    api.post(f"{ORDERS}/{numbers[0]}/submit")

    everything = api.get(ORDERS).json()
    assert everything["count"] == 3
    assert [o["number"] for o in everything["results"]] == numbers[::-1]
    assert everything["results"][0]["total"] == "200.00"
    assert "lines" not in everything["results"][0]
    assert api.get(ORDERS, status="funded").json()["count"] == 1
    assert api.get(ORDERS, status="draft").json()["count"] == 2
    assert api.get(ORDERS, search="ERP-1").json()["results"][0]["number"] == numbers[1]
    assert api.get(ORDERS, search=numbers[2][-6:]).json()["count"] == 1
    page = api.get(ORDERS, page_size=2).json()
    assert len(page["results"]) == 2
    assert page["next"]
    today = Order.objects.get(number=numbers[0]).created_at.date().isoformat()
    assert api.get(ORDERS, created_after=today).json()["count"] == 3
    assert api.get(ORDERS, created_before="2000-01-01").json()["count"] == 0
    assert api.get(ORDERS, created_after="2000-01-01T00:00:00Z").json()["count"] == 3
    bad = api.get(ORDERS, status="lost")
    assert bad.status_code == 400
    assert "status" in bad.json()["errors"]
    assert api.get(ORDERS, created_after="yesterday").status_code == 400


def test_lines_page_through_and_the_detail_lists_them(product):
    acme = buyer()
    api = acme.api("purchaser")
    lines = [
        line(product, quantity=1, recipient_name=f"员工{i}", recipient_mobile="13800138000")
        for i in range(3)
    ]
    number = create(api, order_body(*lines)).json()["number"]
    detail = api.get(f"{ORDERS}/{number}").json()
    assert detail["lines_complete"] is True
    assert [entry["recipient_name"] for entry in detail["lines"]] == ["员工0", "员工1", "员工2"]
    page = api.get(f"{ORDERS}/{number}/lines", page_size=2).json()
    assert page["count"] == 3
    assert [entry["position"] for entry in page["results"]] == [1, 2]


def test_the_catalog_lists_products_on_sale(product):
    factories.product(name="退市卡", active=False)
    ranged = factories.product(
        name="区间卡", face_min="50", face_max="1000", face_step="50", face_values=[]
    )
    acme = buyer()
    response = acme.api("viewer").get("/api/v1/products")
    assert response.status_code == 200
    by_id = {p["id"]: p for p in response.json()}
    assert set(by_id) == {str(product.public_id), str(ranged.public_id)}
    assert by_id[str(product.public_id)]["face_values"] == ["100.00", "200.00", "500.00", "1000.00"]
    assert by_id[str(ranged.public_id)]["face_max"] == "1000.00"
    one = acme.api("viewer").get(f"/api/v1/products/{product.public_id}")
    assert one.json()["face_value_cap"] == "1000.00"
