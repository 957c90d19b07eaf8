"""Test mode: a test key's orders land in the company's sandbox, are funded at once with no
invoice, credit or journal entry, and get cards whose codes start with TEST; the money
invariants and the ledger check hold with sandbox cards about."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import CreditReservation, Invoice
from billing.services.receivables import ledger_check_run
from cards import codes
from cards.invariants import card_and_expired_liability_check, card_liability_check
from cards.models import Batch, Card, DeliveryStatus, Order, OrderStatus, RecipientDelivery
from cards.services.recipients.sending import deliveries_create, delivery_send
from portal import sms
from portal.models import ApiKey, AuditEvent, Company
from portal.services.api_keys import TEST_KEY_START
from tests import factories
from tests.api.helpers import line, order_body
from tests.testmode.helpers import (
    code_of,
    integrator,
    issue,
    ledger_size,
    order_through,
    ordered,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def product():
    return factories.product()


def test_a_test_key_looks_like_one_and_acts_on_a_sandbox_of_the_company():
    acme = integrator()
    plaintext = acme.test_keys["owner"]

    assert plaintext.startswith(TEST_KEY_START)
    key = ApiKey.objects.get(user=acme.people["owner"], company__sandbox_of=acme.company)
    assert key.is_test
    sandbox = acme.company.sandbox
    assert sandbox.is_sandbox
    assert sandbox.live_id == acme.company.pk
    # One sandbox per company, however many test keys; it has no members of its own.
    assert Company.objects.sandboxes().count() == 1
    assert not sandbox.memberships.exists()
    assert list(Company.objects.live()) == [acme.company]
    assert sandbox.credit_code != acme.company.credit_code
    created = AuditEvent.objects.filter(company=acme.company, action="api_key.created")
    assert any(event.changes.get("test") for event in created)


def test_a_test_order_is_funded_at_once_without_invoice_credit_or_journal_entry(product):
    acme = integrator(credit=None)  # no credit line at all: the sandbox needs none
    entries_before = ledger_size()

    response = order_through(acme.test(), product, quantity=5)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == OrderStatus.FUNDED
    assert not body["invoice_number"]
    order = Order.objects.get(number=body["number"])
    assert order.company == acme.company.sandbox
    assert order.invoice_id is None
    assert order.proforma_id is None
    assert not Invoice.objects.exists()
    assert not CreditReservation.objects.exists()
    assert ledger_size() == entries_before


def test_a_bank_transfer_test_order_does_not_wait_for_a_transfer(product):
    acme = integrator(credit=None)

    response = order_through(acme.test(), product, payment_method="bank_transfer")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == OrderStatus.FUNDED
    assert not Invoice.objects.exists()


def test_the_companys_approval_threshold_still_applies_in_the_sandbox(product):
    acme = integrator(approval_threshold="100.00")
    number = order_through(acme.test(), product, quantity=5).json()["number"]
    assert Order.objects.get(number=number).status == OrderStatus.PENDING_APPROVAL

    approved = acme.test("approver").post(f"/api/v1/orders/{number}/approve")

    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == OrderStatus.FUNDED
    assert not Invoice.objects.exists()


def test_test_cards_are_ready_with_test_codes_and_no_ledger_entry(product, settings):
    settings.ISSUANCE_CANARIES_PER_BATCH = 2
    acme = integrator()
    entries_before = ledger_size()
    order = ordered(acme.test(), product)

    issue(order)

    batch = Batch.objects.get(order=order)
    assert batch.is_test
    assert batch.canaries == 0
    cards = list(Card.objects.filter(batch__order=order))
    assert len(cards) == 5
    assert all(card.is_test and card.balance == Decimal("100.00") for card in cards)
    for card in cards:
        code = code_of(card)
        assert code.startswith("TEST-")
        assert code.replace("-", "")[-5:-1] == card.last4
        assert codes.is_test_code(codes.normalize_code(code))
    assert ledger_size() == entries_before
    assert not Card.objects.live().filter(batch__order=order).exists()


def test_the_ledger_check_balances_with_live_and_test_cards(product):
    acme = integrator()
    issue(ordered(acme.live(), product, ref="live"))
    issue(ordered(acme.test(), product, ref="test"))

    liability = card_liability_check()
    assert liability["ok"], liability
    assert Decimal(liability["expected"]) == Decimal("500.00")  # the live cards only
    assert card_and_expired_liability_check()["ok"]
    run = ledger_check_run()
    assert run.ok, run.results


def test_a_test_order_can_be_cancelled_without_touching_billing(product):
    acme = integrator(approval_threshold="100.00")
    number = order_through(acme.test(), product).json()["number"]
    entries_before = ledger_size()

    cancelled = acme.test().post(f"/api/v1/orders/{number}/cancel", {"reason": "trying it out"})

    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["status"] == OrderStatus.CANCELLED
    assert ledger_size() == entries_before
    assert not Invoice.objects.exists()


def test_a_test_key_stops_with_its_holder_or_its_company():
    acme = integrator()
    api = acme.test("viewer")
    assert api.get("/api/v1/orders").status_code == 200

    acme.company.memberships.filter(user=acme.people["viewer"]).delete()
    assert api.get("/api/v1/orders").status_code == 401

    owner = acme.test("owner")
    Company.objects.filter(pk=acme.company.pk).update(status=Company.Status.SUSPENDED)
    assert owner.get("/api/v1/orders").status_code == 401


def test_a_test_key_follows_its_holders_role_in_the_real_company(product):
    acme = integrator()
    acme.company.memberships.filter(user=acme.people["purchaser"]).update(role="viewer")

    refused = order_through(acme.test("purchaser"), product)

    assert refused.status_code == 403
    assert "Only owners and purchasers" in refused.json()["detail"]


def test_test_cards_for_recipients_send_no_email_or_sms(product, mailoutbox, settings):

    acme = integrator()
    response = acme.test().post(
        "/api/v1/orders",
        order_body(
            line(
                product,
                quantity=1,
                recipient_name="张三",
                recipient_email="zhangsan@example.com",
                recipient_mobile="13800138000",
            ),
            delivery_method="recipients",
            submit=True,
        ),
        idempotency_key="to-recipients",
    )
    assert response.status_code == 201, response.json()
    order = issue(Order.objects.get(number=response.json()["number"]))
    deliveries_create(order=order)
    mailoutbox.clear()
    sms.outbox.clear()

    for delivery in RecipientDelivery.objects.filter(order=order):
        assert delivery_send(delivery_id=delivery.pk) == "sent"

    assert RecipientDelivery.objects.get(order=order).status == DeliveryStatus.SENT
    assert not [m for m in mailoutbox if "zhangsan@example.com" in m.to]
    assert not sms.outbox
