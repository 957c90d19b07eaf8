"""Canary cards (``ISSUANCE_CANARIES_PER_BATCH``): made once per batch when it is finalised, with
real codes and serials outside the batch's block; never delivered or shown to a buyer on any
path (code archive, deliveries, card lists and pages, the cards API, counts, dashboard,
statements, refunds, reminders); invisible to the books; flagged for operators without their
codes; and a merchant key that looks one up is frozen at once."""

# Orders, batches and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import csv
import datetime
import io
import logging
from collections.abc import Callable
from http import HTTPStatus

import pytest
import pyzipper
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.services.receivables import ledger_check_run
from cards import codes
from cards.audit import CardsAction
from cards.models import (
    Batch,
    BatchStatus,
    Card,
    CardStatus,
    DeliveryMethod,
    ExpiryNoticeCard,
    LookupFailureReason,
    MerchantLookupFailure,
    Order,
    OrderStatus,
    RecipientDelivery,
)
from cards.selectors import order_progress_data
from cards.services import issuance, recipients
from cards.services.card_service import unused_cards
from cards.services.expiry import expiry_reminders_run
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from cards.statement_activity import card_statement_activity
from cards.summaries import cards_issued_by_month
from portal.models import ApiKey, AuditEvent, Role, User
from tests import factories
from tests.api.helpers import Api, key_for
from tests.billing.test_payment_concurrency import together
from tests.cards.spend.helpers import BALANCE, MerchantApi, merchant_key
from tests.cards.test_cards_pages import Buyer, assert_no_secret, buyer, rows_of, run_chunks
from tests.conftest import sign_in
from tests.portal.test_dashboard import section

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CANARIES = 2
ARCHIVE_PASSWORD = "correct-Horse-battery-7"


@pytest.fixture
def canaries_on(settings: Settings) -> None:
    settings.ISSUANCE_CANARIES_PER_BATCH = CANARIES
    settings.ISSUANCE_CHUNK_SIZE = 2


@pytest.fixture
def seller(canaries_on: None) -> Buyer:
    return buyer()


def funded(who: Buyer, delivery_method: str = DeliveryMethod.FILE) -> Order:
    """Two lines: 3 cards of ¥100 for 张三, 2 of ¥200 for 李四 (each with an email)."""
    product = str(factories.product().public_id)
    order = order_create(
        company=who.company,
        actor=who.people[Role.PURCHASER],
        lines=[
            LineInput(
                product=product,
                face_value="100",
                quantity=3,
                recipient_name="张三",
                recipient_email="zhangsan@example.com",
            ),
            LineInput(
                product=product,
                face_value="200",
                quantity=2,
                recipient_name="李四",
                recipient_email="lisi@example.com",
            ),
        ],
        delivery_method=delivery_method,
    )
    order = order_submit(order=order, actor=who.people[Role.PURCHASER])
    assert order.status == OrderStatus.FUNDED
    order_begin_fulfilment(order_id=order.pk)
    return order


def finalise(order: Order) -> list[str]:
    return [issuance.batch_finalise(batch_id=b.pk) for b in order.batches.order_by("pk")]


def issued(who: Buyer, delivery_method: str = DeliveryMethod.FILE) -> Order:
    order = funded(who, delivery_method)
    run_chunks(order)
    finalise(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def canaries_of(order: Order) -> list[Card]:
    return list(Card.objects.filter(batch__order=order, is_canary=True).order_by("serial"))


def sold_of(order: Order) -> list[Card]:
    return list(Card.objects.filter(batch__order=order, is_canary=False).order_by("serial"))


def serials(cards: list[Card]) -> list[str]:
    return [card.serial_display for card in cards]


def code_of(card: Card) -> str:
    return codes.reveal(
        serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
    )


@pytest.fixture
def order(seller: Buyer) -> Order:
    order = issued(seller)
    assert len(canaries_of(order)) == 2 * CANARIES
    return order


# --- Issuance ------------------------------------------------------------------------------------


def test_each_batch_gets_its_canaries_once_with_real_codes_outside_its_serial_block(
    order: Order,
) -> None:
    for batch in order.batches.order_by("pk"):
        made = list(batch.cards.filter(is_canary=True))
        assert (len(made), batch.canaries) == (CANARIES, CANARIES)
        assert (batch.generated, batch.cards.filter(is_canary=False).count()) == (
            batch.quantity,
            batch.quantity,
        )
        block = {
            int(codes.serial_for(n)) for n in range(batch.first_serial, batch.first_serial + 3)
        }
        for card in made:
            assert card.serial not in block
            assert codes.luhn_valid(card.serial_display)
            assert (card.face_value, card.balance, card.held) == (0, 0, 0)
            assert (card.status, card.expires_at) == (CardStatus.ACTIVE, None)
            canonical = codes.normalize_code(code_of(card))
            assert bytes(card.digest) == codes.code_digest(canonical)
            assert card.last4 == canonical[-5:-1]
    assert len({card.serial for card in Card.objects.all()}) == Card.objects.count()

    # The finaliser again (a redelivered message, the sweep): still two per batch.
    assert finalise(order) == ["already-ready", "already-ready"]
    for batch in order.batches.all():
        assert issuance.batch_canaries_create(batch_id=batch.pk) == 0
    assert len(canaries_of(order)) == 2 * CANARIES
    assert AuditEvent.objects.filter(action=CardsAction.BATCH_CANARIES_CREATED).count() == 2
    assert not AuditEvent.objects.filter(
        action=CardsAction.BATCH_CANARIES_CREATED, company__isnull=False
    ).exists()


def test_canaries_wait_for_the_whole_batch_and_a_second_finaliser_makes_none(
    seller: Buyer,
) -> None:
    order = funded(seller)
    first = order.batches.order_by("pk").first()
    run_chunks(order, limit=1)  # one chunk of the first line's two
    assert issuance.batch_canaries_create(batch_id=first.pk) == 0
    assert finalise(order) == ["not-complete", "not-complete"]
    assert not canaries_of(order)

    run_chunks(order)
    assert issuance.batch_canaries_create(batch_id=first.pk) == CANARIES
    assert issuance.batch_canaries_create(batch_id=first.pk) == 0  # its message, redelivered
    assert finalise(order) == ["ready", "ready"]
    assert finalise(order) == ["already-ready", "already-ready"]
    assert Batch.objects.filter(order=order, status=BatchStatus.READY, canaries=2).count() == 2
    assert len(canaries_of(order)) == 2 * CANARIES


@pytest.mark.django_db(transaction=True)
def test_finalisers_racing_on_one_batch_make_its_canaries_once(
    seller: Buyer, no_celery_worker: None
) -> None:
    # No worker runs: the finalise task the last chunk queues on commit would otherwise finish
    # the batch before the race starts.
    order = funded(seller)
    run_chunks(order)
    batch = order.batches.order_by("pk").first()
    works: list[Callable[[], object]] = [
        *(lambda: issuance.batch_finalise(batch_id=batch.pk) for _i in range(4)),
        *(lambda: issuance.batch_canaries_create(batch_id=batch.pk) for _i in range(2)),
    ]
    results = together(works)
    finalised, made = results[:4], results[4:]
    assert sorted(finalised) == ["already-ready"] * 3 + ["ready"], results
    assert sum(made) in (0, CANARIES), results
    assert Card.objects.filter(batch=batch, is_canary=True).count() == CANARIES
    assert Batch.objects.get(pk=batch.pk).canaries == CANARIES


def test_with_the_setting_at_zero_no_canary_is_made(settings: Settings) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 2
    order = issued(buyer())
    assert not Card.objects.filter(is_canary=True).exists()
    assert list(order.batches.values_list("canaries", flat=True)) == [0, 0]
    assert len(sold_of(order)) == 5
    assert not AuditEvent.objects.filter(action=CardsAction.BATCH_CANARIES_CREATED).exists()


def test_a_mistyped_setting_makes_at_most_the_cap_and_the_batch_is_still_finalised(
    settings: Settings,
) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 2
    settings.ISSUANCE_CANARIES_PER_BATCH = 100_000
    order = issued(buyer())
    cap = issuance.MAX_CANARIES_PER_BATCH
    assert list(order.batches.values_list("canaries", flat=True)) == [cap, cap]
    assert len(canaries_of(order)) == 2 * cap


def test_the_ledger_check_stays_green(order: Order) -> None:
    run = ledger_check_run()
    assert run.ok, run.results


def test_no_canary_code_is_logged_or_audited(
    seller: Buyer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        order = issued(seller)
    stored = repr(list(AuditEvent.objects.values()))
    for card in canaries_of(order):
        code = code_of(card)
        for form in (code, code.replace("-", "")):
            assert form not in caplog.text
            assert form not in stored


# --- At the merchant API -------------------------------------------------------------------------


def test_a_balance_look_up_of_a_canary_freezes_the_merchant_key(
    order: Order, settings: Settings
) -> None:
    settings.MERCHANT_THROTTLE_NAMESPACE = "merchant-limits-test-canary15"
    key, plaintext = merchant_key(scopes=["balance"])
    canary = canaries_of(order)[0]
    response = MerchantApi(plaintext).post(BALANCE, {"code": code_of(canary)})
    assert response.status_code == HTTPStatus.NOT_FOUND
    key.refresh_from_db()
    assert (key.frozen_at is not None, key.frozen_reason) == (True, "canary")
    failure = MerchantLookupFailure.objects.get()
    assert failure.reason == LookupFailureReason.CANARY


# --- Never delivered -----------------------------------------------------------------------------


def test_the_code_archive_holds_the_sold_cards_only(order: Order, seller: Buyer) -> None:
    finance = Api(key_for(seller.company, seller.people[Role.FINANCE], [ApiKey.Scope.CODES_EXPORT]))
    response = finance.post(f"/api/v1/orders/{order.number}/codes", {"password": ARCHIVE_PASSWORD})
    assert response.status_code == HTTPStatus.OK
    with pyzipper.AESZipFile(io.BytesIO(response.getvalue())) as archive:
        archive.setpassword(ARCHIVE_PASSWORD.encode())
        data = archive.read(f"{order.number}-codes.csv").decode("utf-8-sig")
        workbook = archive.read(f"{order.number}-codes.xlsx")
    rows = list(csv.reader(io.StringIO(data, newline="")))[1:]
    assert [row[0].removesuffix("\t") for row in rows] == serials(sold_of(order))
    assert order.code_downloads.get().card_count == 5
    for canary in canaries_of(order):
        assert code_of(canary) not in data
        assert canary.serial_display not in data
        assert canary.serial_display.encode() not in workbook


def test_recipient_deliveries_go_to_the_sold_cards_only(seller: Buyer) -> None:
    order = issued(seller, DeliveryMethod.RECIPIENTS)
    assert recipients.deliveries_create(order=order) == 5
    assert recipients.deliveries_create(order=order) == 0
    delivered = RecipientDelivery.objects.filter(order=order).values_list("card__serial", flat=True)
    assert sorted(delivered) == [card.serial for card in sold_of(order)]


# --- Never shown ---------------------------------------------------------------------------------


def test_the_card_lists_and_their_totals_leave_canaries_out(order: Order, seller: Buyer) -> None:
    # A later order's serials come after the first order's canaries: the company's serial range
    # spans them.
    later = issued(seller)
    client = seller.client()
    for path, shown in (
        ("/cards/", [order, later]),
        (f"/orders/{order.number}/cards/", [order]),
        (f"/orders/{later.number}/cards/", [later]),
    ):
        response = client.get(path)
        assert rows_of(response) == sorted(s for o in shown for s in serials(sold_of(o)))
        assert response.context["total"] == 5 * len(shown)
        assert_no_secret(response.text, canaries_of(order) + canaries_of(later))
    canary = canaries_of(order)[0]
    assert rows_of(client.get("/cards/", {"serial": canary.serial_display})) == []


def test_a_canary_has_no_card_page(order: Order, seller: Buyer) -> None:
    client = seller.client()
    assert client.get(f"/cards/{sold_of(order)[0].serial_display}/").status_code == HTTPStatus.OK
    for canary in canaries_of(order):
        assert client.get(f"/cards/{canary.serial_display}/").status_code == HTTPStatus.NOT_FOUND


def test_the_cards_api_leaves_canaries_out(order: Order, seller: Buyer) -> None:
    later = issued(seller)  # its serials come after the first order's canaries
    api = Api(key_for(seller.company, seller.people[Role.VIEWER], [ApiKey.Scope.ORDERS_READ]))
    for path, shown in (
        ("/api/v1/cards", [order, later]),
        (f"/api/v1/orders/{order.number}/cards", [order]),
    ):
        response = api.get(path)
        assert response.status_code == HTTPStatus.OK
        listed = [c["serial"] for c in response.json()["results"]]
        assert listed == sorted(s for o in shown for s in serials(sold_of(o)))
    canary = canaries_of(order)[0]
    assert api.get("/api/v1/cards", serial=canary.serial_display).json()["results"] == []


def test_the_transactions_endpoint_does_not_know_a_canary(order: Order, seller: Buyer) -> None:
    api = Api(key_for(seller.company, seller.people[Role.VIEWER], [ApiKey.Scope.ORDERS_READ]))
    sold = sold_of(order)[0]
    assert api.get(f"/api/v1/cards/{sold.serial_display}/transactions").status_code == 200
    for canary in canaries_of(order):
        response = api.get(f"/api/v1/cards/{canary.serial_display}/transactions")
        assert response.status_code == HTTPStatus.NOT_FOUND


def test_the_order_progress_and_card_counts_say_what_was_ordered(
    order: Order, seller: Buyer
) -> None:
    progress = order_progress_data(order)
    assert (progress["generated"], progress["quantity"]) == (5, 5)
    assert [b["counts_text"] for b in progress["batches"]] == ["3 of 3 cards", "2 of 2 cards"]
    assert order.card_count == 5
    page = seller.client().get(f"/orders/{order.number}/progress.json").json()
    assert (page["generated"], page["quantity"]) == (5, 5)


def test_the_dashboard_counts_the_sold_cards(order: Order, seller: Buyer) -> None:
    this_month = timezone.localdate().replace(day=1)
    batches = Batch.objects.filter(company=seller.company)
    assert cards_issued_by_month(batches, since=this_month) == {this_month: 5}
    client = Client()
    finance: User = seller.people[Role.FINANCE]
    sign_in(client, finance, second_factor=True)
    page = client.get(reverse("portal:dashboard")).text
    month = timezone.localdate().strftime("%Y-%m")
    assert f'<th scope="row">{month}</th><td class="num">5</td>' in section(
        page, "dash-cards-issued"
    )


def test_statements_count_and_list_the_sold_cards_only(order: Order, seller: Buyer) -> None:
    now = timezone.now()
    company_id = seller.company.pk
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=1)
    activity = card_statement_activity
    summary = activity.summary(company_id=company_id, start=start, end=end)
    assert (summary["issued_count"], summary["issued_value"]) == (5, "700.00")
    assert summary["outstanding_value"] == "700.00"
    out = io.BytesIO()
    assert activity.write_csv_rows(company_id=company_id, start=start, end=end, out=out) == 5
    listed = [row[0].removesuffix("\t") for row in csv.reader(io.StringIO(out.getvalue().decode()))]
    assert listed == serials(sold_of(order))
    sheet = io.BytesIO()
    rows = activity.write_xlsx_rows(
        company_id=company_id, start=start, end=end, first_row=2, max_rows=100, out=sheet
    )
    assert rows == 5
    for canary in canaries_of(order):
        assert canary.serial_display.encode() not in sheet.getvalue()


def test_a_refund_to_the_buyer_never_takes_a_canary(order: Order) -> None:
    assert serials(list(unused_cards(order))) == serials(sold_of(order))


def test_expiry_reminders_never_tell_about_a_canary(order: Order) -> None:
    # Every card of the order, canaries included, comes within a week of an expiry date.
    Card.objects.filter(batch__order=order).update(
        expires_at=timezone.now() + datetime.timedelta(days=5)
    )
    expiry_reminders_run()
    told = set(ExpiryNoticeCard.objects.values_list("card_id", flat=True))
    assert told == {card.pk for card in sold_of(order)}


# --- Operators -----------------------------------------------------------------------------------


def test_operators_see_canaries_flagged_and_filtered_never_their_codes(order: Order) -> None:
    ops = User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )
    client = Client(headers={"accept-language": "en"})
    sign_in(client, ops, second_factor=True)
    canaries = canaries_of(order)
    listed = client.get("/ops/cards/card/", {"is_canary__exact": "1"})
    assert listed.status_code == HTTPStatus.OK
    assert [card.serial_display for card in listed.context["cl"].result_list] == serials(canaries)
    assert "canary card" in listed.text.lower()
    everything = client.get("/ops/cards/card/").text
    page = client.get(f"/ops/cards/card/{canaries[0].pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert "canary card" in page.text.lower()
    batch = client.get(f"/ops/cards/batch/{canaries[0].batch_id}/change/").text
    assert "canary cards" in batch.lower()
    for body in (listed.text, everything, page.text, batch):
        assert_no_secret(body, canaries)
    assert not Card.objects.filter(Q(is_canary=True) & ~Q(batch__order=order)).exists()
