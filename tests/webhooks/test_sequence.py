"""Per-object sequence numbers under concurrent updates of one object (PostgreSQL, threads with
their own connections): concurrent redemptions of one card record ``card.redeemed`` events whose
sequence follows the order in which the redemptions committed (the card's balance after each);
without a subscribed endpoint the merchant path records nothing."""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings

from cards.models import Batch
from cards.services.spend import redemption_create
from portal.models import Company, Role
from tests import factories
from tests.cards.spend.helpers import issued_card, merchant_key
from tests.cards.spend.test_concurrency import race
from webhooks.models import Event, ObjectSequence
from webhooks.services.endpoints import endpoint_create

pytestmark = pytest.mark.usefixtures("english_and_fast_hashing")


def _subscribe(company: Company, event_types: list[str]) -> None:
    owner = factories.member(company, Role.OWNER)
    endpoint_create(
        company=company, actor=owner, url="https://hooks.example.com/in", event_types=event_types
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_of_one_card_are_numbered_in_commit_order(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.services.outbox.publish_after_commit", lambda message_id: None)
    card = issued_card("1000")
    company = Company.objects.get(pk=Batch.objects.get(pk=card.card.batch_id).company_id)
    _subscribe(company, ["card.redeemed"])
    key, _plaintext = merchant_key()

    def redeem(i: int) -> Decimal:
        result = redemption_create(
            key=key,
            code=card.code,
            amount=Decimal("50"),
            merchant_reference=f"till-{i}",
            idempotency_key=f"r-{i}",
        )
        return result.transaction.balance_after

    results = race([functools.partial(redeem, i) for i in range(12)])
    assert all(isinstance(r, Decimal) for r in results), results

    events = list(
        Event.objects.filter(type="card.redeemed", object_id=card.card.serial_display).order_by(
            "sequence"
        )
    )
    assert [e.sequence for e in events] == list(range(1, 13))
    balances = [Decimal(e.payload["data"]["balance"]) for e in events]
    assert balances == [Decimal(1000 - 50 * n) for n in range(1, 13)]
    assert all(e.payload["object"]["sequence"] == e.sequence for e in events)
    counter = ObjectSequence.objects.get(object_type="card", object_id=card.card.serial_display)
    assert counter.last_sequence == 12


@pytest.mark.django_db
def test_without_a_subscribed_endpoint_a_redemption_records_no_event() -> None:
    card = issued_card("1000")
    company = Company.objects.get(pk=Batch.objects.get(pk=card.card.batch_id).company_id)
    _subscribe(company, ["order.funded"])  # an endpoint, but not for spend
    key, _plaintext = merchant_key()
    spent = redemption_create(
        key=key, code=card.code, amount=Decimal("10"), merchant_reference="R", idempotency_key="k"
    )
    assert spent.transaction.balance_after == Decimal("990.00")
    assert not Event.objects.filter(type="card.redeemed").exists()
    # Events that are always recorded still are (the order's, from issuing the card).
    assert Event.objects.filter(company=company, type="order.funded").exists()


@pytest.mark.django_db
def test_a_refund_and_a_freeze_follow_the_redemption_in_the_cards_sequence() -> None:
    from cards.services.card_service import card_freeze
    from cards.services.spend import refund_create

    card = issued_card("1000")
    company = Company.objects.get(pk=Batch.objects.get(pk=card.card.batch_id).company_id)
    _subscribe(company, ["card.redeemed", "card.refunded", "card.frozen"])
    key, _plaintext = merchant_key()
    spent = redemption_create(
        key=key, code=card.code, amount=Decimal("10"), merchant_reference="R", idempotency_key="k"
    )
    refund_create(
        key=key,
        redemption_id=str(spent.transaction.public_id),
        amount=Decimal("4"),
        merchant_reference="R",
        idempotency_key="k2",
    )
    card_freeze(card=card.card, reason="lost", actor=factories.operator())
    events = Event.objects.filter(object_id=card.card.serial_display).order_by("sequence")
    assert [(e.type, e.sequence) for e in events] == [
        ("card.redeemed", 1),
        ("card.refunded", 2),
        ("card.frozen", 3),
    ]
    assert events[1].payload["data"]["amount"] == "4.00"
    assert events[2].payload["data"]["status"] == "frozen"
