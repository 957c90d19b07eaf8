"""Card service by operators: freeze, unfreeze, void, report lost and reissue, exchange, and the
second operator for large amounts. Each rule on PostgreSQL, judged by the card, its
transactions, the ledger and the audit trail."""

# Cards, requests and deliveries looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr, arg-type"

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import Account, JournalEntry
from billing.services.ledger import account_get, journal_post
from cards import codes, tasks
from cards.invariants import card_liability_check
from cards.models import (
    Card,
    CardServiceRequest,
    CardStatus,
    CardTransaction,
    DeliveryStatus,
    RecipientDelivery,
)
from cards.selectors import CardFilters, cards_of_batches
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.card_service import (
    CardServiceAction,
    CardStateError,
    SecondOperatorRequired,
    card_exchange,
    card_freeze,
    card_reissue,
    card_service_request_approve,
    card_service_request_reject,
    card_service_start,
    card_unfreeze,
    card_void,
)
from cards.services.code_allowance import code_download_allowance
from portal.errors import DomainError
from portal.models import AuditEvent, OutboxMessage
from tests.cards import card_service_data as data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

Kind = CardTransaction.Kind


@pytest.fixture(autouse=True)
def rules(settings: Any) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40
    settings.CARD_SERVICE_SECOND_OPERATOR_ABOVE = Decimal("1000.00")
    settings.PORTAL_BASE_URL = "https://portal.example"


@pytest.fixture
def shop() -> data.Shop:
    return data.shop()


def fresh(card: Card) -> Card:
    return Card.objects.get(pk=card.pk)


def history(card: Card) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (tx.kind, tx.amount, tx.balance_after)
        for tx in CardTransaction.objects.filter(card=card).order_by("created_at", "id")
    ]


def adds_up(card: Card) -> bool:
    """Balance = face value + the card's transactions."""
    moved = CardTransaction.objects.filter(card=card).aggregate(s=Sum("amount"))["s"] or 0
    return card.balance == card.face_value + moved


def audits(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def expire(card: Card) -> Card:
    """What the nightly expiry does to a bearer card past its date: status expired, the balance
    kept on the card and moved in the ledger to the expired-balance liability."""
    with transaction.atomic():
        locked = card_lock(card.pk)
        card_transaction_write(
            card=locked, kind=Kind.EXPIRE, amount=Decimal("0.00"), status=CardStatus.EXPIRED
        )
        journal_post(
            kind="card_expiry",
            idempotency_key=f"card_expiry:{locked.pk}",
            postings=[
                (account_get(Account.Kind.CARD_LIABILITY), locked.balance),
                (account_get(Account.Kind.EXPIRED_LIABILITY), -locked.balance),
            ],
        )
    return fresh(card)


# --- Freeze and unfreeze -------------------------------------------------------------------------


def test_a_frozen_card_keeps_its_balance_and_an_unfrozen_one_is_active_again(shop) -> None:
    # Given an active card of 100
    card = data.cards_of(data.issue(shop))[0]
    entries = JournalEntry.objects.count()
    # When an operator freezes it, then unfreezes it
    frozen = card_freeze(card=card, reason="Holder called: phone stolen", actor=shop.maker)
    assert frozen.status == CardStatus.FROZEN
    card_unfreeze(card=card, reason="Holder found the phone", actor=shop.maker)
    # Then two zero movements record when and why, the balance never moved, nor the ledger
    card = fresh(card)
    assert card.status == CardStatus.ACTIVE
    assert card.balance == Decimal("100.00")
    assert history(card) == [
        (Kind.FREEZE, Decimal("0.00"), Decimal("100.00")),
        (Kind.UNFREEZE, Decimal("0.00"), Decimal("100.00")),
    ]
    first = CardTransaction.objects.filter(card=card, kind=Kind.FREEZE).get()
    assert (first.reason, first.actor) == ("Holder called: phone stolen", shop.maker)
    assert JournalEntry.objects.count() == entries
    assert [e.changes["status"] for e in audits(CardServiceAction.FROZEN)] == [["active", "frozen"]]
    assert audits(CardServiceAction.UNFROZEN)[0].actor == shop.maker


def test_only_an_active_card_is_frozen_and_only_a_frozen_one_unfrozen(shop) -> None:
    card = data.cards_of(data.issue(shop))[0]
    with pytest.raises(CardStateError):
        card_unfreeze(card=card, reason="why not", actor=shop.maker)
    card_freeze(card=card, reason="lost", actor=shop.maker)
    with pytest.raises(CardStateError):
        card_freeze(card=card, reason="again", actor=shop.maker)


@pytest.mark.parametrize("act", [card_freeze, card_void])
def test_every_act_needs_a_reason_and_writes_nothing_without_one(shop, act) -> None:
    card = data.cards_of(data.issue(shop))[0]
    with pytest.raises(DomainError) as refused:
        act(card=card, reason="   ", actor=shop.maker)
    assert "reason" in refused.value.message_dict
    assert history(card) == []
    assert fresh(card).status == CardStatus.ACTIVE


def test_a_buyer_cannot_service_a_card(shop) -> None:
    from django.core.exceptions import PermissionDenied

    card = data.cards_of(data.issue(shop))[0]
    with pytest.raises(PermissionDenied):
        card_freeze(card=card, reason="mine", actor=shop.people["owner"])


# --- Void ----------------------------------------------------------------------------------------


def test_a_void_moves_the_balance_to_the_voided_cards_account(shop) -> None:
    # Given a card of 100 with 30 spent at a merchant
    card = data.cards_of(data.issue(shop))[0]
    data.redeem(card, data.merchant(), "30.00")
    voided_before = data.balance_of(Account.Kind.VOIDED_CARDS)
    # When an operator voids it
    card_void(card=card, reason="Fraud report 2291", actor=shop.maker)
    # Then the remaining 70 leaves the card and goes to the voided-card account
    card = fresh(card)
    assert (card.status, card.balance) == (CardStatus.VOIDED, Decimal("0.00"))
    assert history(card)[-1] == (Kind.VOID, Decimal("-70.00"), Decimal("0.00"))
    assert adds_up(card)
    assert data.balance_of(Account.Kind.VOIDED_CARDS) - voided_before == Decimal("-70.00")
    assert card_liability_check()["ok"]
    event = audits(CardServiceAction.VOIDED)[0]
    assert event.changes["balance"] == "70.00"
    assert event.changes["reason"] == "Fraud report 2291"


def test_a_voided_card_never_comes_back(shop) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="500"))[0]
    card_void(card=card, reason="Reported stolen", actor=shop.maker)
    for act in (card_freeze, card_unfreeze, card_void, card_reissue):
        with pytest.raises(CardStateError, match="never comes back"):
            act(card=card, reason="try", actor=shop.maker)
    assert fresh(card).status == CardStatus.VOIDED


def test_a_card_with_an_open_hold_is_not_voided(shop) -> None:
    card = data.cards_of(data.issue(shop))[0]
    Card.objects.filter(pk=card.pk).update(held=Decimal("20.00"))
    with pytest.raises(CardStateError, match="held by a merchant"):
        card_void(card=card, reason="lost", actor=shop.maker)
    assert fresh(card).status == CardStatus.ACTIVE


# --- A second operator ---------------------------------------------------------------------------


def test_a_void_over_the_limit_waits_for_a_second_operator(shop) -> None:
    # Given a registered card of 2,000 (the limit is 1,000)
    card = data.cards_of(data.issue(shop, registered=True, face_value="2000"))[0]
    # When an operator voids it, it is refused as such...
    with pytest.raises(SecondOperatorRequired):
        card_void(card=card, reason="Company closed", actor=shop.maker)
    # ... and the admin's entry point records a request instead
    outcome = card_service_start(
        card=card, action="void", reason="Company closed", actor=shop.maker
    )
    request = outcome.request
    assert request is not None
    assert (request.status, request.amount, request.requested_by) == (
        CardServiceRequest.Status.PENDING,
        Decimal("2000.00"),
        shop.maker,
    )
    assert fresh(card).status == CardStatus.ACTIVE
    # The same operator cannot approve it
    with pytest.raises(DomainError, match="Another operator"):
        card_service_request_approve(service_request=request, actor=shop.maker)
    assert fresh(card).status == CardStatus.ACTIVE
    # A second operator can: the void runs then
    card_service_request_approve(service_request=request, actor=shop.checker)
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (
        CardServiceRequest.Status.APPROVED,
        shop.checker,
    )
    assert fresh(card).status == CardStatus.VOIDED
    void = CardTransaction.objects.get(card=card, kind=Kind.VOID)
    assert (void.actor, void.reason, void.amount) == (
        shop.checker,
        "Company closed",
        Decimal("-2000.00"),
    )
    assert audits(CardServiceAction.VOIDED)[0].changes["requested_by"] == shop.maker.email
    # And a decided request cannot be decided again
    with pytest.raises(DomainError, match="already"):
        card_service_request_reject(service_request=request, actor=shop.checker, reason="x")


def test_the_database_refuses_an_approval_by_the_requester(shop) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="2000"))[0]
    request = card_service_start(card=card, action="void", reason="x", actor=shop.maker).request
    with pytest.raises(IntegrityError), transaction.atomic():
        CardServiceRequest.objects.filter(pk=request.pk).update(
            status=CardServiceRequest.Status.APPROVED, decided_by=shop.maker
        )


def test_a_rejected_request_leaves_the_card_alone_and_one_request_waits_per_card(shop) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="2000"))[0]
    request = card_service_start(
        card=card, action="reissue", reason="Lost", actor=shop.maker
    ).request
    with pytest.raises(CardStateError, match="already has a request"):
        card_service_start(card=card, action="void", reason="Lost", actor=shop.checker)
    card_service_request_reject(service_request=request, actor=shop.checker, reason="No ID shown")
    request.refresh_from_db()
    assert (request.status, request.decision_note) == (
        CardServiceRequest.Status.REJECTED,
        "No ID shown",
    )
    assert fresh(card).status == CardStatus.ACTIVE
    assert history(card) == []
    with pytest.raises(DomainError, match="already rejected"):
        card_service_request_approve(service_request=request, actor=shop.checker)
    assert audits(CardServiceAction.REQUEST_REJECTED)[0].changes["reason"] == "No ID shown"


def test_under_the_limit_a_void_runs_at_once(shop) -> None:
    card = data.cards_of(data.issue(shop, registered=True, face_value="500"))[0]
    outcome = card_service_start(card=card, action="void", reason="Lost", actor=shop.maker)
    assert outcome.request is None
    assert outcome.card.status == CardStatus.VOIDED


# --- Report lost and reissue ---------------------------------------------------------------------


def test_a_lost_registered_card_is_reissued_to_the_same_recipient(shop, mailoutbox) -> None:
    # Given a registered card of 500, delivered by link, with 120 spent
    order = data.issue(shop, registered=True, face_value="500", quantity=1, recipients=True)
    from cards.services import recipients

    recipients.deliveries_create(order=order)
    old = data.cards_of(order)[0]
    assert tasks.recipient_delivery_send(RecipientDelivery.objects.get(card=old).pk) == "sent"
    data.redeem(old, data.merchant(), "120.00")
    entries = JournalEntry.objects.count()
    # When an operator reports it lost and reissues it
    new = card_reissue(card=old, reason="Lost wallet, ID checked", actor=shop.maker)
    # Then the old card is voided, pointing at the new one, its balance moved out
    old = fresh(old)
    assert old.status == CardStatus.VOIDED
    assert old.reissued_as == new
    assert history(old)[-1] == (Kind.REISSUE_OUT, Decimal("-380.00"), Decimal("0.00"))
    # The new card holds the 380 as its face value, in the same batch, and does not expire
    assert (new.face_value, new.balance, new.status) == (
        Decimal("380.00"),
        Decimal("380.00"),
        CardStatus.ACTIVE,
    )
    assert (new.reissued_from, new.batch_id, new.expires_at) == (old, old.batch_id, None)
    assert history(new) == [(Kind.REISSUE_IN, Decimal("0.00"), Decimal("380.00"))]
    assert adds_up(old)
    assert adds_up(new)
    # It has a new code of its own
    assert new.serial != old.serial
    assert bytes(new.digest) != bytes(old.digest)
    code = codes.reveal(
        serial=new.serial_display, key_id=new.key_id, ciphertext=bytes(new.ciphertext)
    )
    assert codes.code_digest(codes.normalize_code(code)) == bytes(new.digest)
    # The liability did not change: no ledger entry
    assert JournalEntry.objects.count() == entries
    assert card_liability_check()["ok"]
    # The same recipient gets a new one-time link, once this commits
    delivery = RecipientDelivery.objects.get(card=new)
    assert (delivery.email, delivery.status) == ("xiaoming@example.com", DeliveryStatus.PENDING)
    assert OutboxMessage.objects.filter(
        task="cards.tasks.recipient_delivery_send", args=[delivery.pk]
    ).exists()
    assert tasks.recipient_delivery_send(delivery.pk) == "sent"
    assert mailoutbox[-1].to == ["xiaoming@example.com"]
    assert code not in mailoutbox[-1].body
    # And the act is audited without any code
    event = audits(CardServiceAction.REISSUED)[0]
    assert event.changes["new_serial"] == new.serial_display
    assert event.changes["delivery"] == "link"
    assert code not in str(event.changes)


def test_a_bearer_card_is_not_reissued(shop) -> None:
    card = data.cards_of(data.issue(shop))[0]
    with pytest.raises(CardStateError, match="only registered cards"):
        card_reissue(card=card, reason="Lost", actor=shop.maker)


def test_a_reissued_card_of_a_file_order_is_in_the_file_and_in_the_card_list(shop) -> None:
    # Given a file order of two registered cards
    order = data.issue(shop, registered=True, face_value="500", quantity=2)
    allowed = code_download_allowance(order).limit
    old = data.cards_of(order)[0]
    # When one is reissued
    new = card_reissue(card=old, reason="Lost", actor=shop.maker)
    # Then it is one more card of the order, listed to the buyer, with one more download
    assert new in data.cards_of(order)
    listed = list(cards_of_batches(order.batches.all(), CardFilters()))
    assert [c.serial for c in listed] == sorted([c.serial for c in data.cards_of(order)])
    assert code_download_allowance(order).limit == allowed + 1
    assert audits(CardServiceAction.REISSUED)[0].changes["delivery"] == "file"


def test_a_reissue_over_the_limit_is_approved_by_a_second_operator(shop) -> None:
    old = data.cards_of(data.issue(shop, registered=True, face_value="2000", quantity=1))[0]
    outcome = card_service_start(card=old, action="reissue", reason="Lost", actor=shop.maker)
    assert outcome.new_card is None
    approved = card_service_request_approve(service_request=outcome.request, actor=shop.checker)
    assert approved.new_card is not None
    assert approved.new_card.balance == Decimal("2000.00")
    assert CardServiceRequest.objects.get(pk=outcome.request.pk).new_card == approved.new_card
    assert fresh(old).status == CardStatus.VOIDED


# --- Exchange ------------------------------------------------------------------------------------


def test_an_expired_bearer_card_is_exchanged_for_a_new_one_with_its_balance(shop) -> None:
    # Given a bearer card of 100 with 40 spent, then expired (its 60 in the expired liability)
    old = data.cards_of(data.issue(shop))[0]
    data.redeem(old, data.merchant(), "40.00")
    old = expire(old)
    expired_before = data.balance_of(Account.Kind.EXPIRED_LIABILITY)
    # When the holder asks for an exchange
    new = card_exchange(card=old, reason="Holder came to the counter", actor=shop.maker)
    # Then the 60 is on a new card valid for the product's full validity from today
    assert (new.face_value, new.balance, new.reissued_from) == (
        Decimal("60.00"),
        Decimal("60.00"),
        fresh(old),
    )
    assert new.expires_at.date() > (timezone.now() + datetime.timedelta(days=3 * 365 - 2)).date()
    assert fresh(old).status == CardStatus.VOIDED
    # And the 60 moved back from the expired liability to card liability
    assert data.balance_of(Account.Kind.EXPIRED_LIABILITY) - expired_before == Decimal("60.00")
    assert card_liability_check()["ok"]
    assert audits(CardServiceAction.EXCHANGED)[0].changes["balance"] == "60.00"


def test_a_card_that_has_not_expired_is_not_exchanged(shop) -> None:
    card = data.cards_of(data.issue(shop))[0]
    with pytest.raises(CardStateError, match="has not expired"):
        card_exchange(card=card, reason="Wants a new one", actor=shop.maker)
