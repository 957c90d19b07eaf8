"""Idempotency-Key on POST /api/v1/orders: required, per company, a replay returns the first
response, a different body with the same key is refused, and a refused request frees its key."""

from __future__ import annotations

import pytest

from cards.models import Order, OrderStatus
from portal.api.idempotency import request_fingerprint
from portal.models import IdempotencyRecord
from tests import factories
from tests.api.helpers import ORDERS, buyer, line, order_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def product():
    return factories.product()


def test_creating_an_order_needs_an_idempotency_key(product):
    acme = buyer()
    response = acme.api("purchaser").post(ORDERS, order_body(line(product)))
    assert response.status_code == 400
    payload = response.json()
    assert "Idempotency-Key" in payload["errors"]
    assert "Idempotency-Key header" in payload["detail"]
    assert not Order.objects.exists()
    too_long = acme.api("purchaser").post(
        ORDERS, order_body(line(product)), idempotency_key="k" * 129
    )
    assert too_long.status_code == 400
    assert "128" in too_long.json()["detail"]
    assert not Order.objects.exists()


def test_a_replay_returns_the_first_response_and_creates_nothing_more(product):
    acme = buyer()
    body = order_body(line(product), submit=True)
    first = acme.api("purchaser").post(ORDERS, body, idempotency_key="batch-2025-001")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    replay = acme.api("purchaser").post(ORDERS, body, idempotency_key="batch-2025-001")

    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert Order.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.company == acme.company
    assert record.status_code == 201
    assert record.request_hash == request_fingerprint(body)
    # Another member of the same company replaying the key gets the same answer.
    owner_replay = acme.api("owner").post(ORDERS, body, idempotency_key="batch-2025-001")
    assert owner_replay.json()["number"] == first.json()["number"]


def test_key_order_and_whitespace_of_the_body_do_not_matter(product):
    acme = buyer()
    body = order_body(line(product))
    first = acme.api("purchaser").post(ORDERS, body, idempotency_key="k1")
    reordered = dict(reversed(list(body.items())))
    replay = acme.api("purchaser").post(ORDERS, reordered, idempotency_key="k1")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["number"] == first.json()["number"]


def test_the_same_key_with_a_different_body_is_refused(product):
    acme = buyer()
    acme.api("purchaser").post(ORDERS, order_body(line(product)), idempotency_key="k1")

    response = acme.api("purchaser").post(
        ORDERS, order_body(line(product, quantity=31)), idempotency_key="k1"
    )

    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_keys_are_per_company(product):
    acme, other = buyer(), buyer()
    body = order_body(line(product))
    a = acme.api("purchaser").post(ORDERS, body, idempotency_key="shared-key")
    b = other.api("purchaser").post(ORDERS, body, idempotency_key="shared-key")
    assert a.status_code == b.status_code == 201
    assert a.json()["number"] != b.json()["number"]
    assert Order.objects.filter(company=acme.company).count() == 1
    assert Order.objects.filter(company=other.company).count() == 1


def test_a_refused_request_does_not_keep_its_key(product):
    acme = buyer()
    bad = acme.api("purchaser").post(
        ORDERS, order_body(line(product, face_value="150")), idempotency_key="k1"
    )
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()

    fixed = acme.api("purchaser").post(ORDERS, order_body(line(product)), idempotency_key="k1")

    assert fixed.status_code == 201
    assert Order.objects.count() == 1


def test_a_refused_submission_creates_nothing(product):
    acme = buyer(credit="1000.00")
    response = acme.api("purchaser").post(
        ORDERS, order_body(line(product), submit=True), idempotency_key="k1"
    )
    assert response.status_code == 400
    assert "credit" in response.json()["detail"].lower()
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_the_key_is_the_default_client_reference(product):
    acme = buyer()
    api = acme.api("purchaser")
    by_key = api.post(ORDERS, order_body(line(product)), idempotency_key="erp-778")
    assert by_key.json()["client_reference"] == "erp-778"
    own = api.post(
        ORDERS, order_body(line(product), client_reference="PO-42"), idempotency_key="erp-779"
    )
    assert own.json()["client_reference"] == "PO-42"
    taken = api.post(
        ORDERS, order_body(line(product), client_reference="PO-42"), idempotency_key="erp-780"
    )
    assert taken.status_code == 400
    assert "PO-42" in taken.json()["errors"]["client_reference"][0]


def test_an_action_may_carry_a_key_and_is_then_replayed(product):
    acme = buyer()
    number = (
        acme.api("purchaser")
        .post(ORDERS, order_body(line(product), submit=True), idempotency_key="k1")
        .json()["number"]
    )
    approve = f"{ORDERS}/{number}/approve"
    first = acme.api("approver").post(approve, idempotency_key="approve-1")
    assert first.json()["status"] == OrderStatus.FUNDED

    again = acme.api("approver").post(approve, idempotency_key="approve-1")

    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # Without a key, the state machine answers instead.
    assert acme.api("approver").post(approve).status_code == 409
    # A key used for one operation cannot be reused for another.
    reused = acme.api("purchaser").post(
        f"{ORDERS}/{number}/cancel", {"reason": "x"}, idempotency_key="approve-1"
    )
    assert reused.status_code == 422
