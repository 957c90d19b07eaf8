"""The console's key figures, checked against the ledger and the card transactions: cards issued
on credit, redeemed and given back at two merchants, one expired; then the page's tables and
the CSV and XLSX exports, read back, against the same numbers."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Account, Invoice, JournalEntry, Posting
from billing.money import ZERO
from billing.services.ledger import account_get
from cards.invariants import LIVE_STATUSES
from cards.models import Card, CardStatus, CardTransaction
from cards.services.expiry import cards_expire
from console.selectors import (
    cards_figure,
    figure_get,
    liability_figure,
    merchants_figure,
    receivables_figure,
)
from portal import days
from portal.exports import csv_cell
from portal.models import Company
from tests import factories
from tests.cards import card_service_data as shop_data
from tests.console.helpers import INDEX, csv_rows, operator_client, xlsx_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _ledger(kind: str, entry_kind: str = "") -> Decimal:
    """The sum of the postings on accounts of ``kind`` (debits positive), of one kind of
    journal entry if given."""
    postings = Posting.objects.filter(account__kind=kind)
    if entry_kind:
        postings = postings.filter(entry__kind=entry_kind)
    return postings.aggregate(s=Sum("amount"))["s"] or ZERO


@pytest.fixture
def books() -> dict[str, Any]:
    """Seven cards issued on credit (3 x 100, 2 x 500, 2 x 100), four redemptions at two
    merchants, one refund, and one card expired with 60 left on it."""
    shop = shop_data.shop()
    small = shop_data.cards_of(shop_data.issue(shop, face_value="100", quantity=3))
    large = shop_data.cards_of(shop_data.issue(shop, face_value="500", quantity=2))
    expiring = shop_data.cards_of(shop_data.issue(shop, face_value="100", quantity=2))
    harbour = shop_data.merchant("Harbour Mart")
    lotus = shop_data.merchant("Lotus Foods")
    first = shop_data.redeem(small[0], harbour, "30.00")
    shop_data.redeem(small[1], harbour, "50.00")
    shop_data.redeem(large[0], lotus, "200.00")
    shop_data.redeem(expiring[0], lotus, "40.00")
    shop_data.give_back(first, "10.00")
    # The bearer card's date has passed (its validity is years; the date is set back).
    Card.objects.filter(pk=expiring[0].pk).update(expires_at=timezone.now() - datetime.timedelta(1))
    assert cards_expire().cards == 1
    return {"shop": shop, "harbour": harbour, "lotus": lotus}


def _this_month(figure_rows: list[list[Any]]) -> list[Any]:
    return figure_rows[-1]


def test_liability_at_this_month_end_is_the_ledgers_and_the_cards(books: dict[str, Any]) -> None:
    figure = liability_figure(days.today())
    label, card_liability, expired_liability = _this_month(figure.rows)
    assert label == f"{days.today():%Y-%m}"
    # The ledger's credit balances...
    assert card_liability == -_ledger(Account.Kind.CARD_LIABILITY)
    assert expired_liability == -_ledger(Account.Kind.EXPIRED_LIABILITY)
    # ...are the balances of the live cards and of the expired ones.
    live = Card.objects.filter(status__in=LIVE_STATUSES).aggregate(s=Sum("balance"))["s"]
    expired = Card.objects.filter(status=CardStatus.EXPIRED).aggregate(s=Sum("balance"))["s"]
    assert card_liability == live == Decimal("1500.00") - 320 + 10 - 60
    assert expired_liability == expired == Decimal("60.00")
    # Nothing before this month.
    assert all(row[1:] == [ZERO, ZERO] for row in figure.rows[:-1])
    assert len(figure.rows) == 12


def test_each_month_end_counts_what_was_posted_before_shanghai_midnight() -> None:
    shanghai = days.zone()

    def post(kind: str, amount: str, at: datetime.datetime) -> None:
        entry = JournalEntry.objects.create(
            created_at=at, kind="test", idempotency_key=f"test:{kind}:{at.isoformat()}"
        )
        value = Decimal(amount)
        Posting.objects.bulk_create(
            [
                Posting(entry=entry, account=account_get(kind), amount=-value),
                Posting(entry=entry, account=account_get(Account.Kind.CASH), amount=value),
            ]
        )

    # 23:30 on 31 December and 00:00 on 1 January, Shanghai time (both 31 December in UTC).
    post(
        Account.Kind.CARD_LIABILITY,
        "1000.00",
        datetime.datetime(2025, 12, 31, 23, 30, tzinfo=shanghai),
    )
    post(
        Account.Kind.CARD_LIABILITY, "500.00", datetime.datetime(2026, 1, 1, 0, 0, tzinfo=shanghai)
    )
    # An expiry in February moves 200 from the card liability to the expired-balance liability.
    post(Account.Kind.CARD_LIABILITY, "-200.00", datetime.datetime(2026, 2, 10, tzinfo=shanghai))
    post(Account.Kind.EXPIRED_LIABILITY, "200.00", datetime.datetime(2026, 2, 10, tzinfo=shanghai))

    figure = liability_figure(datetime.date(2026, 3, 15))
    by_month = {row[0]: (row[1], row[2]) for row in figure.rows}
    assert figure.rows[0][0] == "2025-04"
    assert by_month["2025-11"] == (ZERO, ZERO)
    assert by_month["2025-12"] == (Decimal("1000.00"), ZERO)
    assert by_month["2026-01"] == (Decimal("1500.00"), ZERO)
    assert by_month["2026-02"] == (Decimal("1300.00"), Decimal("200.00"))
    assert by_month["2026-03"] == (Decimal("1300.00"), Decimal("200.00"))


def test_cards_issued_redeemed_and_expired_this_month(books: dict[str, Any]) -> None:
    figure = cards_figure(days.today())
    row = _this_month(figure.rows)
    assert figure.header == [
        "Month",
        "Cards issued",
        "Face value issued",
        "Redemptions",
        "Value redeemed",
        "Cards expired",
        "Balance expired",
    ]
    assert row[1:] == [7, Decimal("1500.00"), 4, Decimal("320.00"), 1, Decimal("60.00")]
    # Against the ledger: issuance moved the face value into the card liability, redemptions
    # out of it, and the expiry into the expired-balance liability.
    assert row[2] == -_ledger(Account.Kind.CARD_LIABILITY, entry_kind="card_issuance")
    assert row[4] == _ledger(Account.Kind.CARD_LIABILITY, entry_kind="card_redemption")
    assert row[6] == -_ledger(Account.Kind.EXPIRED_LIABILITY, entry_kind="card_expiry")
    # And against the card transactions.
    redemptions = CardTransaction.objects.filter(kind=CardTransaction.Kind.REDEEM)
    assert row[3] == redemptions.count()
    assert row[4] == -redemptions.aggregate(s=Sum("amount"))["s"]
    assert all(other[1:] == [0, ZERO, 0, ZERO, 0, ZERO] for other in figure.rows[:-1])


def test_redemption_volume_by_merchant(books: dict[str, Any]) -> None:
    figure = merchants_figure(days.today())
    assert figure.rows == [
        ["Lotus Foods", 2, Decimal("240.00"), ZERO, Decimal("240.00")],
        ["Harbour Mart", 2, Decimal("80.00"), Decimal("10.00"), Decimal("70.00")],
    ]
    assert figure.footer == ["Total", 4, Decimal("320.00"), Decimal("10.00"), Decimal("310.00")]
    # Each merchant's net is what the ledger owes it.
    for name, merchant in (("Lotus Foods", books["lotus"]), ("Harbour Mart", books["harbour"])):
        payable = -shop_data.balance_of(
            Account.Kind.MERCHANT_PAYABLE, holder=str(merchant.public_id)
        )
        assert next(row[4] for row in figure.rows if row[0] == name) == payable


def test_receivables_and_aging(books: dict[str, Any]) -> None:
    figure = receivables_figure(days.today())
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE).aggregate(s=Sum("total"))["s"]
    assert figure.rows[0] == ["Current", invoices]
    assert all(amount == ZERO for _label, amount in figure.rows[1:])
    assert figure.footer == ["Total", invoices]
    assert invoices == _ledger(Account.Kind.RECEIVABLE)
    assert ("Receivable in the ledger", f"¥{invoices:,.2f}") in figure.facts


def _page_table(page: str, key: str) -> list[list[str]]:
    table = re.search(
        rf'<table class="console-table" data-testid="figure-{key}-table">(.*?)</table>', page, re.S
    )
    assert table is not None, key
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


@pytest.mark.parametrize("key", ["liability", "cards", "receivables", "merchants"])
def test_the_page_and_the_exports_show_the_same_table(
    client: Client, books: dict[str, Any], key: str
) -> None:
    admin, _ops = operator_client(client)
    figure = figure_get(key)
    page = admin.get(INDEX).content.decode()
    shown = _page_table(page, key)
    footer = [figure.display_footer] if figure.display_footer else []
    assert shown == [figure.header, *figure.display_rows, *footer]
    assert 'data-testid="chart-console-' in page

    as_csv = admin.get(f"/ops/console/figures/{key}.csv")
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv["Content-Disposition"]
    assert csv_rows(as_csv.content) == [
        figure.header,
        *[[str(csv_cell(value)) for value in row] for row in figure.table()],
    ]

    as_xlsx = admin.get(f"/ops/console/figures/{key}.xlsx")
    assert as_xlsx.status_code == 200
    rows = xlsx_rows(as_xlsx.content)
    assert rows[0] == figure.header
    read_back = [
        [Decimal(str(v)).quantize(Decimal("0.01")) if isinstance(v, float) else v for v in row]
        for row in rows[1:]
    ]
    expected = [
        [v.quantize(Decimal("0.01")) if isinstance(v, Decimal) else v for v in row]
        for row in figure.table()
    ]
    assert read_back == expected


def test_exports_are_for_operators_who_passed_the_second_factor(client: Client) -> None:
    url = "/ops/console/figures/liability.csv"
    assert client.get(url).status_code == 302  # signed out: to the admin's sign-in
    buyer = factories.member(factories.company(), "owner")
    client.force_login(buyer)
    assert client.get(url).status_code == 302
    staff = factories.operator()
    client.force_login(staff)  # staff, without the second factor
    assert client.get(url).status_code == 302
    admin, _ops = operator_client(client, superuser=False)
    assert admin.get(url).status_code == 200
    assert admin.get("/ops/console/figures/nothing.csv").status_code == 404
    assert admin.get("/ops/console/figures/liability.pdf").status_code == 404


def _index_queries(admin: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert admin.get(INDEX).status_code == 200
    return len(queries)


def test_the_index_costs_the_same_queries_whatever_the_data(
    client: Client, books: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    admin, _ops = operator_client(client)
    _index_queries(admin)  # warm: the session, the content types
    before = _index_queries(admin)
    # More of everything: companies waiting, merchants, redemptions.
    for _n in range(3):
        factories.company(status=Company.Status.PENDING)
    shop = books["shop"]
    cards = shop_data.cards_of(shop_data.issue(shop, face_value="100", quantity=4))
    for n, card in enumerate(cards):
        shop_data.redeem(card, shop_data.merchant(f"Store {n}"), "5.00")
    assert _index_queries(admin) == before
    with django_assert_max_num_queries(40):
        admin.get(INDEX)


def test_a_merchant_name_like_a_formula_stays_text_in_the_exports(client: Client) -> None:
    shop = shop_data.shop()
    (card,) = shop_data.cards_of(shop_data.issue(shop, face_value="100", quantity=1))
    shop_data.redeem(card, shop_data.merchant('=HYPERLINK("http://x.example","Pay")'), "10.00")
    admin, _ops = operator_client(client)
    as_csv = csv_rows(admin.get("/ops/console/figures/merchants.csv").content)
    assert as_csv[1][0] == '\'=HYPERLINK("http://x.example","Pay")'
    as_xlsx = xlsx_rows(admin.get("/ops/console/figures/merchants.xlsx").content)
    assert as_xlsx[1][0] == '\'=HYPERLINK("http://x.example","Pay")'
    assert as_xlsx[1][2] == 10
