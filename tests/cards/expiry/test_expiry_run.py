"""The daily expiry: bearer cards past their date expire (registered ones never), keep their
balance with one zero-amount ``expire`` transaction each, and their balances move to the
expired-balance liability, range by range; a second run, or one after a crash, does nothing
twice."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import JournalEntry
from billing.services.receivables import ledger_check_run
from cards import tasks
from cards.models import (
    Card,
    CardHold,
    CardStatus,
    CardTransaction,
    HoldStatus,
    Merchant,
)
from cards.services.expiry import cards_expire, cards_expire_range
from portal.models import AuditEvent

from . import helpers
from .helpers import (
    CARD_LIABILITY,
    DAY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    expiry_of,
    fresh,
    issued,
    line,
    owed,
    registered_product,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def shop() -> Merchant:
    return helpers.merchant()


@pytest.fixture
def books(shop: Merchant) -> dict[str, list[Card]]:
    """Bearer cards of 100 (three) and 200 (one, partly spent), registered cards (two)."""
    who = buyer("Acme")
    bearer = issued(who, [line(bearer_product(), "100", 3), line(bearer_product(), "200", 1)])
    registered = issued(who, [line(registered_product(), "1000", 2)], registered=True)
    helpers.spend(bearer[3], "50.00", shop)
    return {"bearer": bearer, "registered": registered}


def after_expiry(cards: list[Card]) -> datetime.datetime:
    return max(expiry_of(card) for card in cards) + DAY


def test_bearer_cards_past_their_date_expire_keeping_their_balance(books) -> None:
    bearer, registered = books["bearer"], books["registered"]
    assert all(card.expires_at is None for card in registered)
    now = after_expiry(bearer)

    summary = cards_expire(now=now)

    assert summary.cards == 4
    assert summary.balance == Decimal("450.00")
    for card in map(fresh, bearer):
        assert card.status == CardStatus.EXPIRED
        [expire] = card.transactions.filter(kind=CardTransaction.Kind.EXPIRE)
        assert expire.amount == Decimal("0.00")
        assert expire.balance_after == card.balance
    assert [fresh(card).balance for card in bearer] == [Decimal("100.00")] * 3 + [Decimal("150.00")]
    assert {fresh(card).status for card in registered} == {CardStatus.ACTIVE}


def test_cards_not_yet_due_stay_active(books) -> None:
    bearer = books["bearer"]
    assert cards_expire(now=expiry_of(bearer[0]) - DAY).cards == 0
    assert {fresh(card).status for card in bearer} == {CardStatus.ACTIVE}


def test_the_balances_move_to_the_expired_balance_liability(books) -> None:
    liability_before = owed(CARD_LIABILITY)

    cards_expire(now=after_expiry(books["bearer"]))

    assert owed(EXPIRED_LIABILITY) == Decimal("450.00")
    assert owed(CARD_LIABILITY) == liability_before - Decimal("450.00") == Decimal("2000.00")
    [entry] = JournalEntry.objects.filter(kind="card_expiry")
    assert sorted(p.amount for p in entry.postings.all()) == [Decimal("-450.00"), Decimal("450.00")]
    run = ledger_check_run()
    assert run.ok, run.results


def test_a_second_run_changes_nothing(books) -> None:
    now = after_expiry(books["bearer"])
    cards_expire(now=now)
    counts = (CardTransaction.objects.count(), JournalEntry.objects.count())

    again = cards_expire(now=now + DAY)

    assert again.cards == 0
    assert (CardTransaction.objects.count(), JournalEntry.objects.count()) == counts
    assert owed(EXPIRED_LIABILITY) == Decimal("450.00")


def test_ranges_commit_one_by_one_and_a_run_killed_midway_is_finished_by_the_next(books) -> None:
    bearer = books["bearer"]
    now = after_expiry(bearer)
    first = min(card.pk for card in bearer)
    # Given a run that expired the first range of two ids, then died
    count, total, entry = cards_expire_range(first_id=first, end_id=first + 2, now=now)
    assert (count, total) == (2, Decimal("200.00"))
    assert entry is not None

    summary = cards_expire(now=now, chunk_size=2)

    assert summary.cards == 2
    assert summary.balance == Decimal("250.00")
    assert {fresh(card).status for card in bearer} == {CardStatus.EXPIRED}
    assert CardTransaction.objects.filter(kind=CardTransaction.Kind.EXPIRE).count() == 4
    keys = list(JournalEntry.objects.filter(kind="card_expiry").values_list("idempotency_key"))
    assert len(keys) == len(set(keys)) == 2
    assert owed(EXPIRED_LIABILITY) == Decimal("450.00")
    assert AuditEvent.objects.filter(action="card.expired").count() == 2


def test_a_used_up_card_expires_too_without_moving_money_and_a_frozen_one_waits(
    books, shop
) -> None:
    used_up, frozen, *_ = books["bearer"]
    helpers.spend(used_up, "100.00", shop)
    assert fresh(used_up).status == CardStatus.DEPLETED
    Card.objects.filter(pk=frozen.pk).update(status=CardStatus.FROZEN)

    summary = cards_expire(now=after_expiry(books["bearer"]))

    assert fresh(used_up).status == CardStatus.EXPIRED
    assert fresh(used_up).balance == Decimal("0.00")
    assert fresh(frozen).status == CardStatus.FROZEN
    assert summary.cards == 3
    assert owed(EXPIRED_LIABILITY) == Decimal("250.00")


def test_open_holds_are_released_first(books, shop) -> None:
    card = books["bearer"][0]
    hold = CardHold.objects.create(
        card=card, merchant=shop, amount=Decimal("30.00"), expires_at=timezone.now() + DAY
    )
    Card.objects.filter(pk=card.pk).update(held=Decimal("30.00"))

    cards_expire(now=after_expiry(books["bearer"]))

    hold.refresh_from_db()
    assert hold.status == HoldStatus.RELEASED
    assert hold.closed_at is not None
    assert fresh(card).held == Decimal("0.00")
    assert fresh(card).balance == Decimal("100.00")


def test_the_daily_task_runs_the_expiry(books, settings) -> None:
    Card.objects.filter(pk=books["bearer"][0].pk).update(expires_at=timezone.now() - DAY)
    result = tasks.cards_expire_daily()
    assert result["cards"] == 1
    assert result["balance"] == "100.00"
    assert "cards-expire-daily" in settings.CELERY_BEAT_SCHEDULE
