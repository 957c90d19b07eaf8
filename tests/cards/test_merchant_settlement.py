"""Merchant settlement: a day's redemptions less refunds and voided redemptions per merchant
(Asia/Shanghai days), recomputed while open, its file (the card only by the last four digits of
its serial), and the payout recorded once with its ledger entry."""

# Settlements looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr, arg-type"

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.conf import settings

from billing.models import Account, JournalEntry
from cards import codes
from cards.models import CardTransaction, MerchantSettlement
from cards.services.settlement import (
    merchant_settlement_compute,
    merchant_settlement_record_payout,
    merchant_settlements_nightly,
    settlement_file,
)
from portal import days
from portal.errors import DomainError, StateConflict
from tests.cards import card_service_data as data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture(autouse=True)
def rules(settings: Any) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40


@pytest.fixture
def shop() -> data.Shop:
    return data.shop()


YESTERDAY = days.today() - datetime.timedelta(days=1)


def at(day: datetime.date, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    """A wall-clock time of a Shanghai day."""
    return days.day_start(day) + datetime.timedelta(hours=hour, minutes=minute, seconds=second)


@pytest.fixture
def day_of_trade(shop) -> dict[str, Any]:
    """Yesterday at Harbour Mart: redemptions of 80 + 150 + 45.50, a refund of 30 and a voided
    redemption of 45.50; besides, trade on other days and at another merchant."""
    cards = data.cards_of(data.issue(shop, face_value="500", quantity=3))
    mart, other = data.merchant("Harbour Mart"), data.merchant("Other Shop")
    first = data.redeem(cards[0], mart, "80.00", reference="SO-1", at=at(YESTERDAY, 0, 0, 0))
    data.redeem(cards[1], mart, "150.00", reference="SO-2", at=at(YESTERDAY, 12))
    third = data.redeem(cards[2], mart, "45.50", reference="SO-3", at=at(YESTERDAY, 23, 59, 59))
    data.give_back(first, "30.00", at=at(YESTERDAY, 13))
    data.give_back(
        third, "45.50", kind=CardTransaction.Kind.REDEEM_VOID, at=at(YESTERDAY, 23, 59, 59)
    )
    # Not yesterday's, or not this merchant's
    data.redeem(cards[0], mart, "5.00", at=at(YESTERDAY - datetime.timedelta(days=1), 23, 59, 59))
    data.redeem(cards[0], mart, "7.00", at=days.day_end(YESTERDAY))
    data.redeem(cards[1], other, "9.00", at=at(YESTERDAY, 12))
    return {"cards": cards, "mart": mart, "other": other}


def test_a_day_settles_redemptions_less_refunds_and_voids_of_that_shanghai_day(
    shop, day_of_trade
) -> None:
    settlement = merchant_settlement_compute(merchant=day_of_trade["mart"], day=YESTERDAY)
    assert (
        settlement.redeemed,
        settlement.refunded,
        settlement.voided,
        settlement.net,
        settlement.transaction_count,
    ) == (Decimal("275.50"), Decimal("30.00"), Decimal("45.50"), Decimal("200.00"), 5)
    assert settlement.status == MerchantSettlement.Status.OPEN


def test_an_open_settlement_is_recomputed_and_a_paid_one_never(shop, day_of_trade) -> None:
    mart = day_of_trade["mart"]
    settlement = merchant_settlement_compute(merchant=mart, day=YESTERDAY)
    # A redemption committed late, stamped before midnight
    data.redeem(day_of_trade["cards"][1], mart, "10.00", at=at(YESTERDAY, 23, 30))
    again = merchant_settlement_compute(merchant=mart, day=YESTERDAY)
    assert (again.pk, again.net) == (settlement.pk, Decimal("210.00"))
    merchant_settlement_record_payout(settlement=again, bank_reference="B-1", actor=shop.maker)
    data.redeem(day_of_trade["cards"][1], mart, "10.00", at=at(YESTERDAY, 23, 31))
    assert merchant_settlement_compute(merchant=mart, day=YESTERDAY).net == Decimal("210.00")


def test_today_is_not_settled_before_it_is_over(shop) -> None:
    with pytest.raises(DomainError, match="once it is over"):
        merchant_settlement_compute(merchant=data.merchant(), day=days.today())


def test_the_payout_moves_the_merchant_payable_to_cash_once(shop, day_of_trade) -> None:
    mart = day_of_trade["mart"]
    holder = str(mart.public_id)
    settlement = merchant_settlement_compute(merchant=mart, day=YESTERDAY)
    payable = data.balance_of(Account.Kind.MERCHANT_PAYABLE, holder=holder)
    cash = data.balance_of(Account.Kind.CASH)
    paid = merchant_settlement_record_payout(
        settlement=settlement, bank_reference=" CMB20261203-0042 ", actor=shop.maker
    )
    assert (paid.status, paid.bank_reference, paid.paid_by) == (
        MerchantSettlement.Status.PAID,
        "CMB20261203-0042",
        shop.maker,
    )
    assert data.balance_of(Account.Kind.MERCHANT_PAYABLE, holder=holder) - payable == Decimal(
        "200.00"
    )
    assert data.balance_of(Account.Kind.CASH) - cash == Decimal("-200.00")
    entry = JournalEntry.objects.get(kind="merchant_settlement_paid")
    assert entry.reference == "CMB20261203-0042"
    with pytest.raises(StateConflict, match="already paid"):
        merchant_settlement_record_payout(
            settlement=settlement, bank_reference="B-2", actor=shop.checker
        )
    assert JournalEntry.objects.filter(kind="merchant_settlement_paid").count() == 1


def test_a_payout_needs_a_bank_reference(shop, day_of_trade) -> None:
    settlement = merchant_settlement_compute(merchant=day_of_trade["mart"], day=YESTERDAY)
    with pytest.raises(DomainError) as refused:
        merchant_settlement_record_payout(
            settlement=settlement, bank_reference=" ", actor=shop.maker
        )
    assert "bank_reference" in refused.value.message_dict


def test_the_file_lists_the_days_transactions_with_the_serials_last_four_only(
    shop, day_of_trade
) -> None:
    settlement = merchant_settlement_compute(merchant=day_of_trade["mart"], day=YESTERDAY)
    text = settlement_file(settlement, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Time", "Type", "Card (last 4 of serial)", "Amount (CNY)"]
    assert [row[1] for row in rows[1:]] == [
        "Redemption",
        "Redemption",
        "Refund",
        "Redemption",
        "Redemption voided",
    ]
    assert [Decimal(row[3]) for row in rows[1:]] == [
        Decimal("80.00"),
        Decimal("150.00"),
        Decimal("-30.00"),
        Decimal("45.50"),
        Decimal("-45.50"),
    ]
    assert rows[3][5] == "SO-1"  # the refund names the redemption it gives back
    workbook = openpyxl.load_workbook(io.BytesIO(settlement_file(settlement, "xlsx")))
    sheet = workbook.active
    assert sheet.max_row == 6
    assert sheet.cell(row=2, column=4).value == 80
    for card in day_of_trade["cards"]:
        code = codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        assert card.serial_display not in text
        assert code not in text
        assert code.replace("-", "") not in text
    assert f"···{card.serial_display[-4:]}" in text


def test_the_nightly_run_settles_the_days_before_for_every_merchant(shop, day_of_trade) -> None:
    computed = merchant_settlements_nightly(today=YESTERDAY + datetime.timedelta(days=1))
    settled = {
        (s.merchant.name, s.day): s.net
        for s in MerchantSettlement.objects.select_related("merchant")
    }
    assert computed == 3
    assert settled == {
        ("Harbour Mart", YESTERDAY): Decimal("200.00"),
        ("Harbour Mart", YESTERDAY - datetime.timedelta(days=1)): Decimal("5.00"),
        ("Other Shop", YESTERDAY): Decimal("9.00"),
    }
    # A second run changes nothing
    merchant_settlements_nightly(today=YESTERDAY + datetime.timedelta(days=1))
    assert MerchantSettlement.objects.count() == 3
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "cards.tasks.merchant_settlements_nightly" in schedule
