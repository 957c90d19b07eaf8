"""Refund to the buyer: unused cards of an order voided and credited back to the company, by a
credit note against the invoice (open: it owes less; paid: company credit), once per card, with
the ledger entries; judged by the invoice, the ledger and the nightly invariants."""

# Orders, invoices and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from billing.models import Account, Invoice
from billing.services.receivables.ledger_check import _check_ledger_balanced, _check_receivables
from cards.invariants import card_liability_check
from cards.models import Card, CardStatus, CardTransaction, PaymentMethod
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.card_service import (
    CardServiceAction,
    order_refund_unused_cards,
    unused_cards,
)
from portal.errors import DomainError, StateConflict
from portal.models import AuditEvent
from tests import factories
from tests.cards import card_service_data as data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture(autouse=True)
def rules(settings: Any) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40


@pytest.fixture
def shop() -> data.Shop:
    return data.shop()


def books_hold() -> None:
    assert _check_ledger_balanced()["ok"]
    assert _check_receivables()["ok"], _check_receivables()
    assert card_liability_check()["ok"]


def test_unused_cards_of_a_credit_order_lower_what_its_open_invoice_asks(shop) -> None:
    # Given a credit order of three cards of 100, invoiced 300 and unpaid, one card spent
    order = data.issue(shop, quantity=3)
    invoice = order.invoice
    assert (invoice.total, invoice.paid_amount) == (Decimal("300.00"), Decimal("0.00"))
    spent = data.cards_of(order)[0]
    data.redeem(spent, data.merchant(), "10.00")
    receivable = data.balance_of(Account.Kind.RECEIVABLE, company=shop.company)
    # When an operator refunds two unused cards
    outcome = order_refund_unused_cards(
        order=order, count=2, actor=shop.maker, reason="Event cancelled"
    )
    # Then the two untouched cards are voided, the spent one left alone
    refunded = {card.pk for card in outcome.cards}
    assert spent.pk not in refunded
    assert len(refunded) == 2
    for card in Card.objects.filter(pk__in=refunded):
        assert (card.status, card.balance) == (CardStatus.VOIDED, Decimal("0.00"))
    # A credit note of 200 against the invoice, which now asks 100
    note = outcome.credit_note
    assert (note.kind, note.total, note.status) == (
        Invoice.Kind.CREDIT_NOTE,
        Decimal("200.00"),
        Invoice.Status.PAID,
    )
    assert invoice.number in note.note
    invoice.refresh_from_db()
    assert invoice.total - invoice.paid_amount == Decimal("100.00")
    assert data.balance_of(Account.Kind.RECEIVABLE, company=shop.company) - receivable == Decimal(
        "-200.00"
    )
    # The voided cards' value passed through the voided-card account and left it again
    assert data.balance_of(Account.Kind.VOIDED_CARDS) == Decimal("0.00")
    books_hold()
    event = AuditEvent.objects.get(action=CardServiceAction.REFUNDED)
    assert (event.changes["cards"], event.changes["credit_note"]) == (2, note.number)


def test_a_paid_order_is_refunded_as_company_credit(shop) -> None:
    order = data.issue(shop, quantity=2, payment_method=PaymentMethod.BANK_TRANSFER)
    assert order.invoice.status == Invoice.Status.PAID
    outcome = order_refund_unused_cards(
        order=order, cards=data.cards_of(order)[:1], actor=shop.maker, reason="Too many ordered"
    )
    assert outcome.amount == Decimal("100.00")
    order.invoice.refresh_from_db()
    assert order.invoice.paid_amount == order.invoice.total
    assert data.balance_of(Account.Kind.COMPANY_CREDIT, company=shop.company) == Decimal("-100.00")
    books_hold()


def test_a_discounted_line_gives_back_exactly_what_was_paid_card_by_card(shop) -> None:
    # Given three cards of 99.90 at a 2.5% discount: 292.21 paid (97.4025 each)
    factories.pricing(shop.company, "discount", "2.50")
    product = factories.product(face_values=["99.90"])
    order = data.issue(shop, quantity=3, face_value="99.90", product=product)
    assert order.invoice.total == Decimal("292.21")
    # When the cards are refunded one at a time
    credited = [
        order_refund_unused_cards(order=order, count=1, actor=shop.maker, reason="r").amount
        for _ in range(3)
    ]
    # Then the credits add up to what was paid, never a cent more
    assert sum(credited) == Decimal("292.21")
    assert credited == [Decimal("97.40"), Decimal("97.41"), Decimal("97.40")]
    order.invoice.refresh_from_db()
    assert order.invoice.status == Invoice.Status.PAID
    # The discount given is taken back with them
    assert data.balance_of(Account.Kind.DISCOUNTS) == Decimal("0.00")
    books_hold()


def test_a_card_is_refunded_once(shop) -> None:
    order = data.issue(shop, quantity=2)
    card = data.cards_of(order)[0]
    order_refund_unused_cards(order=order, cards=[card], actor=shop.maker, reason="r")
    with pytest.raises(StateConflict, match="used, voided or reissued"):
        order_refund_unused_cards(order=order, cards=[card], actor=shop.maker, reason="again")
    # And the database keeps it so: the refund key of a card is unique
    with transaction.atomic():
        locked = card_lock(card.pk)
        with pytest.raises(IntegrityError), transaction.atomic():
            card_transaction_write(
                card=locked,
                kind=CardTransaction.Kind.VOID,
                amount=Decimal("0.00"),
                idempotency_key=f"buyer_refund:{card.pk}",
            )
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1


def test_a_used_card_refuses_the_whole_refund(shop) -> None:
    order = data.issue(shop, quantity=2)
    cards = data.cards_of(order)
    data.redeem(cards[1], data.merchant(), "0.01")
    with pytest.raises(StateConflict, match=cards[1].serial_display):
        order_refund_unused_cards(order=order, cards=cards, actor=shop.maker, reason="r")
    assert Card.objects.filter(batch__order=order, status=CardStatus.VOIDED).count() == 0
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()
    assert list(unused_cards(order)) == [cards[0]]


def test_no_more_cards_than_are_unused_and_a_reason_is_needed(shop) -> None:
    order = data.issue(shop, quantity=2)
    with pytest.raises(DomainError, match="2 unused cards, not 3"):
        order_refund_unused_cards(order=order, count=3, actor=shop.maker, reason="r")
    with pytest.raises(DomainError) as refused:
        order_refund_unused_cards(order=order, count=1, actor=shop.maker, reason=" ")
    assert "reason" in refused.value.message_dict
    assert not Card.objects.filter(status=CardStatus.VOIDED).exists()
