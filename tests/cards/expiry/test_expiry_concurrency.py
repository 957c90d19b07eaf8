"""Expiry under real concurrency on PostgreSQL: threads with their own connections start together
(tests/billing/test_payment_concurrency.py's ``together``): two schedulers expiring at once, a
card reactivated while its breakage is approved, reminders run twice at once."""

# mypy: disable-error-code="union-attr, index"

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.services.receivables import ledger_check_run
from cards.models import BreakageCard, BreakageStatus, CardStatus, CardTransaction, ExpiryNotice
from cards.services.expiry import (
    breakage_propose,
    breakage_review,
    card_reactivate,
    cards_expire,
    expiry_reminders_run,
)
from cards.services.issuance import add_months
from tests import factories
from tests.billing.test_payment_concurrency import together

from .helpers import (
    BREAKAGE_INCOME,
    DAY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    expiry_of,
    fresh,
    issued,
    line,
    owed,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


@pytest.fixture
def cards() -> list:
    return issued(buyer("Acme"), [line(bearer_product(), "100", 5)])


def test_three_schedulers_expiring_at_once_expire_each_card_once(cards) -> None:
    now = expiry_of(cards[0]) + DAY

    results = together([lambda: cards_expire(now=now, chunk_size=2) for _ in range(3)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.cards for r in results) == 5
    assert {fresh(card).status for card in cards} == {CardStatus.EXPIRED}
    assert CardTransaction.objects.filter(kind=CardTransaction.Kind.EXPIRE).count() == 5
    assert owed(EXPIRED_LIABILITY) == Decimal("500.00")
    assert ledger_check_run().ok


def test_a_card_reactivated_while_its_breakage_is_approved_keeps_the_books_right(
    cards, settings
) -> None:
    settings.BREAKAGE_HOLDING_MONTHS = 36
    expired_at = expiry_of(cards[0])
    cards_expire(now=expired_at + DAY)
    now = add_months(expired_at, 37)
    alice, bob = factories.operator(), factories.operator()
    decision = breakage_propose(operator=alice, reason="Year end", now=now)

    results = together(
        [
            lambda: breakage_review(decision_id=decision.pk, reviewer=bob, approve=True),
            lambda: card_reactivate(card_id=cards[0].pk, operator=alice, reason="Holder", now=now),
        ]
    )

    approval, reactivation = results
    assert not isinstance(reactivation, Exception), reactivation
    assert fresh(cards[0]).status == CardStatus.ACTIVE
    decision.refresh_from_db()
    if isinstance(approval, ValidationError):
        # The reactivation went first: the reviewer is told the cards changed.
        assert approval.code == "breakage_cards_changed"
        assert decision.status == BreakageStatus.PROPOSED
        assert owed(BREAKAGE_INCOME) == Decimal("0.00")
    else:
        # The approval went first: the reactivation reversed that card's breakage.
        assert decision.status == BreakageStatus.POSTED
        assert not BreakageCard.objects.get(decision=decision, card=cards[0]).live
        assert owed(BREAKAGE_INCOME) == Decimal("400.00")
    run = ledger_check_run()
    assert run.ok, run.results


def test_two_reminder_runs_at_once_send_each_reminder_once(cards) -> None:
    now = expiry_of(cards[0]) - 20 * DAY

    results = together([lambda: expiry_reminders_run(now=now) for _ in range(2)])

    assert not [r for r in results if isinstance(r, Exception)], results
    [notice] = ExpiryNotice.objects.all()
    assert (notice.card_count, notice.total) == (5, Decimal("500.00"))
