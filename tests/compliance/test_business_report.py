"""The quarterly business report (issue 17, report 2): every figure built through the services
and checked against the card transactions and the ledger; its due date."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import Account, Posting
from billing.money import ZERO
from cards.models import Card, CardStatus, CardTransaction, MerchantApiKey
from cards.services.card_service import order_refund_unused_cards
from cards.services.expiry import card_reactivate, cards_expire
from cards.services.spend import merchant_key_create, redemption_create, refund_create
from compliance.content import Period
from compliance.due_dates import business_report_due, business_report_reminder, quarter_of
from compliance.kinds import REPORT_KINDS
from portal import days
from tests import factories
from tests.cards.expiry.helpers import (
    bearer_product,
    buyer,
    code_of,
    issued,
    line,
    merchant,
    owed,
    registered_product,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def small_chunks(settings) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40


def compute(start: datetime.date, end: datetime.date):
    content = REPORT_KINDS["business"].compute(Period(start=start, end=end))
    return (
        {figure.key: figure.value for figure in content.figures},
        {table.key: table.rows for table in content.tables},
    )


def ledger_sum(account_kind: str, *entry_kinds: str, key_prefix: str = "") -> Decimal:
    postings = Posting.objects.filter(account__kind=account_kind, entry__kind__in=entry_kinds)
    if key_prefix:
        postings = postings.filter(entry__idempotency_key__startswith=key_prefix)
    return postings.aggregate(total=Sum("amount"))["total"] or ZERO


@pytest.fixture
def book() -> dict:
    """Two buyers' cards, a few redemptions, two unused cards refunded to their buyer."""
    first, second = buyer("甲企业"), buyer("乙企业")
    bearer, registered = bearer_product(), registered_product()
    first_bearer = issued(first, [line(bearer, "100", 10)])
    first_registered = issued(first, [line(registered, "2000", 2)], registered=True)
    second_cards = issued(second, [line(bearer, "500", 5)])
    ops = factories.operator()
    key, _plaintext = merchant_key_create(
        merchant=merchant(), name="收银台", scopes=list(MerchantApiKey.Scope.values), actor=ops
    )
    spent = [
        redemption_create(
            key=key,
            code=code_of(card),
            amount=Decimal(amount),
            merchant_reference=f"POS-{n}",
            idempotency_key=f"redeem-{n}",
        )
        for n, (card, amount) in enumerate(
            [
                (first_bearer[0], "30.00"),
                (first_registered[0], "500.00"),
                (second_cards[0], "200.00"),
            ]
        )
    ]
    # The shop gives 50.00 of the registered card's purchase back.
    refund_create(
        key=key,
        redemption_id=str(spent[1].transaction.public_id),
        amount=Decimal("50.00"),
        idempotency_key="refund-1",
    )
    order_refund_unused_cards(
        order=second_cards[0].batch.order, actor=ops, reason="Unused gifts", count=2
    )
    return {
        "first": first,
        "second": second,
        "bearer": first_bearer + second_cards,
        "ops": ops,
    }


def test_a_quarter_of_sales_redemptions_and_refunds_matches_the_books(book) -> None:
    start, end = quarter_of(days.today())
    figures, tables = compute(start, end)

    # Sold: the cards issued, against the ledger's issuance entries.
    assert figures["cards_sold"] == 17
    assert figures["cards_sold_value"] == Decimal("7500.00")
    assert figures["cards_sold_value"] == -ledger_sum(Account.Kind.CARD_LIABILITY, "card_issuance")
    assert (figures["bearer_sold"], figures["bearer_sold_value"]) == (15, Decimal("3500.00"))
    assert (figures["registered_sold"], figures["registered_sold_value"]) == (
        2,
        Decimal("4000.00"),
    )
    assert tables["sold_by_face_value_band"] == [
        ("≤ ¥100.00", 10, Decimal("1000.00")),
        ("¥100.00 < x ≤ ¥500.00", 5, Decimal("2500.00")),
        ("¥500.00 < x ≤ ¥1,000.00", 0, ZERO),
        ("¥1,000.00 < x ≤ ¥5,000.00", 2, Decimal("4000.00")),
    ]

    # Redeemed, and refunded to the buyer, against the card transactions and the ledger.
    redeems = CardTransaction.objects.filter(kind=CardTransaction.Kind.REDEEM)
    assert figures["redemptions"] == redeems.count() == 3
    assert figures["redeemed_value"] == Decimal("730.00")
    assert figures["returned_to_cards"] == Decimal("50.00")
    assert figures["redeemed_net"] == Decimal("680.00")
    assert figures["redeemed_net"] == ledger_sum(
        Account.Kind.CARD_LIABILITY, "card_redeem", "card_refund", "card_redeem_void"
    )
    assert figures["cards_refunded"] == 2
    assert figures["refunded_value"] == Decimal("1000.00")
    assert figures["refunded_value"] == ledger_sum(
        Account.Kind.CARD_LIABILITY, "card_void", key_prefix="buyer_refund_void:"
    )

    # Outstanding at quarter end: the ledger, which equals the live cards' balances.
    live = Card.objects.filter(status__in=[CardStatus.ACTIVE, CardStatus.DEPLETED])
    balances = live.aggregate(total=Sum("balance"))["total"]
    assert figures["card_liability"] == owed(Account.Kind.CARD_LIABILITY) == balances
    assert balances == Decimal("7500.00") - Decimal("680.00") - Decimal("1000.00")
    assert figures["expired_liability"] == ZERO
    assert figures["outstanding_balance"] == balances + figures["cards_to_issue"]

    # Buyers: two companies, the larger first.
    assert figures["buyer_companies"] == 2
    ranks = tables["largest_buyers"]
    assert [row[1] for row in ranks] == ["甲企业", "乙企业"]
    assert ranks[0][3:] == (12, Decimal("5000.00"), Decimal("66.7"))
    assert ranks[1][2] == book["second"].company.credit_code

    # Reproducible: the same period gives the same figures.
    assert compute(start, end) == (figures, tables)
    # Nothing in the quarter before.
    before, _tables = compute(start - 92 * DAY, start - DAY)
    assert before["cards_sold"] == 0
    assert before["outstanding_balance"] == ZERO


def test_expired_and_reactivated_cards_are_counted_at_their_balance(book) -> None:
    bearer = [card for card in book["bearer"] if card.status == CardStatus.ACTIVE]
    expiries = [Card.objects.get(pk=card.pk).expires_at for card in bearer]
    later = max(expiry for expiry in expiries if expiry is not None) + DAY
    cards_expire(now=later)
    expired = Card.objects.filter(status=CardStatus.EXPIRED)
    assert expired.count() == 13  # 15 bearer cards, less the two refunded
    comeback = expired.order_by("serial")[0]
    card_reactivate(card_id=comeback.pk, operator=book["ops"], reason="Holder asked", now=later)

    figures, _tables = compute(days.today(), days.local(later).date() + DAY)
    expired_value = Decimal("3500.00") - Decimal("1000.00") - Decimal("230.00")
    assert figures["cards_expired"] == 13
    assert figures["expired_value"] == expired_value
    assert figures["expired_value"] == -ledger_sum(Account.Kind.EXPIRED_LIABILITY, "card_expiry")
    assert figures["cards_reactivated"] == 1
    assert figures["reactivated_value"] == Card.objects.get(pk=comeback.pk).balance
    assert figures["reactivated_value"] == ledger_sum(
        Account.Kind.EXPIRED_LIABILITY, "card_unexpiry"
    )
    assert figures["expired_liability"] == owed(Account.Kind.EXPIRED_LIABILITY)
    assert figures["expired_liability"] == expired_value - figures["reactivated_value"]


def test_the_report_is_due_twenty_working_days_after_the_quarter() -> None:
    # Q4 2026 ends on Thursday 31 December: 20 weekdays later is Thursday 28 January 2027.
    assert business_report_due(datetime.date(2026, 12, 31)) == datetime.date(2027, 1, 28)
    # Q1 2027 ends on a Wednesday; Q2 2026 on a Tuesday.
    assert business_report_due(datetime.date(2027, 3, 31)) == datetime.date(2027, 4, 28)
    assert business_report_due(datetime.date(2026, 6, 30)) == datetime.date(2026, 7, 28)
    reminder = business_report_reminder(datetime.date(2027, 1, 5))
    assert (reminder.quarter_start, reminder.quarter_end) == (
        datetime.date(2026, 10, 1),
        datetime.date(2026, 12, 31),
    )
    assert reminder.label == "2026 Q4"
    assert reminder.days_left == 23
    late = business_report_reminder(datetime.date(2027, 2, 1))
    assert late.overdue
    assert late.days_overdue == 4


def test_the_console_snippet_shows_the_due_date() -> None:
    from django.template.loader import render_to_string

    reminder = business_report_reminder(datetime.date(2027, 1, 5))
    html = render_to_string("compliance/console_due.html", {"business_report": reminder})
    assert "2026 Q4" in html
    assert "2027-01-28" in html
    assert "23 days left" in html
    late = render_to_string(
        "compliance/console_due.html",
        {"business_report": business_report_reminder(datetime.date(2027, 2, 1))},
    )
    assert "Overdue by 4 days" in late
