"""The console's work queues: each counts what waits for an operator, says how long the oldest
has waited, and links to the admin list of exactly those items; an empty queue is shown calmly.

Items are made through the services; only the moment an item started waiting is set back
(``update`` of its timestamp), so that its age is known."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.models import CreditLineProposal, LedgerCheck, Payment, Statement
from billing.services.credit_proposals import credit_line_propose
from billing.services.payments import payment_record
from billing.services.receivables import ledger_check_run
from billing.services.statements import statement_build
from cards.models import Batch, CardServiceRequest, LookupBlock, MerchantApiKey, Order
from cards.services import issuance
from cards.services.card_service import card_service_request_create, card_service_request_reject
from cards.services.spend import merchant_key_freeze, merchant_key_revoke
from cards.services.spend.throttle import failure_count
from cards.services.workflow import order_begin_fulfilment
from console.queues import Queue, work_queues
from portal.models import Company, Role
from tests import factories
from tests.cards import card_service_data as shop_data
from tests.cards.spend.helpers import merchant_key
from tests.console.helpers import INDEX, listed_pks, operator_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def own_limits(settings: Settings) -> None:
    import uuid

    settings.MERCHANT_THROTTLE_NAMESPACE = f"console-test-{uuid.uuid4().hex}"


def _back(model: type, pk: int, field: str, when: datetime.datetime) -> None:
    model.objects.filter(pk=pk).update(**{field: when})  # type: ignore[attr-defined]


def _queue(key: str, now: datetime.datetime | None = None) -> Queue:
    return next(queue for queue in work_queues(now) if queue.key == key)


def test_with_nothing_waiting_every_queue_is_shown_calmly(client: Client) -> None:
    admin, _ops = operator_client(client)
    page = admin.get(INDEX).content.decode()
    assert "Nothing waits for an operator." in page
    for queue in work_queues():
        assert (queue.count, queue.oldest_at) == (0, None)
        assert f'class="console-queue console-queue-clear" data-testid="queue-{queue.key}"' in page
    assert "console-queue-due" not in page
    assert page.count("nothing waiting") == len(work_queues())


def test_companies_waiting_for_kyc_review(client: Client) -> None:
    admin, _ops = operator_client(client)
    now = timezone.now()
    old = factories.company(status=Company.Status.PENDING)
    new = factories.company(status=Company.Status.PENDING)
    factories.company(status=Company.Status.ACTIVE)
    factories.company(status=Company.Status.SUSPENDED)
    _back(Company, old.pk, "created_at", now - 3 * DAY)

    queue = _queue("kyc", now)
    assert (queue.count, queue.oldest_at) == (2, now - 3 * DAY)
    assert queue.age_text == "3\xa0days"
    assert listed_pks(admin, queue.url) == {old.pk, new.pk}


def test_credit_lines_waiting_for_a_second_operator(client: Client) -> None:
    admin, ops = operator_client(client)
    now = timezone.now()
    waiting = [
        credit_line_propose(
            company=factories.company(),
            limit=Decimal("250000.00"),
            net_days=30,
            grace_days=5,
            status="active",
            actor=ops,
            reason="annual volume",
        )
        for _ in range(2)
    ]
    _back(CreditLineProposal, waiting[0].pk, "requested_at", now - 2 * HOUR)

    queue = _queue("credit_proposals", now)
    assert (queue.count, queue.oldest_at) == (2, now - 2 * HOUR)
    assert listed_pks(admin, queue.url) == {p.pk for p in waiting}


def test_orders_in_risk_review(client: Client, settings: Settings) -> None:
    admin, _ops = operator_client(client)
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    company = factories.company(approval_threshold="100000.00")
    factories.credit_line(company, "100000.00")
    purchaser = factories.member(company, Role.PURCHASER)
    held = [factories.submitted(company, purchaser, quantity=30) for _ in range(2)]
    funded = factories.submitted(company, purchaser, quantity=1)
    assert [o.status for o in held] == ["pending_review", "pending_review"]
    assert funded.status == "funded"
    now = timezone.now()
    _back(Order, held[1].pk, "submitted_at", now - 5 * HOUR)

    queue = _queue("risk_review", now)
    assert (queue.count, queue.oldest_at) == (2, now - 5 * HOUR)
    assert queue.age_text == "5\xa0hours"
    assert listed_pks(admin, queue.url) == {o.pk for o in held}


def test_unmatched_bank_payments(client: Client) -> None:
    admin, ops = operator_client(client)
    company = factories.company()
    unknown, _ = payment_record(
        bank_reference="B-1",
        payer_name="Nobody We Know Ltd",
        payer_account="6222000000000001",
        amount="1234.50",
        received_on=datetime.date.today(),
        remittance="no reference",
        actor=ops,
    )
    second, _ = payment_record(
        bank_reference="B-2",
        payer_name="Another Payer",
        payer_account="6222000000000002",
        amount="99.00",
        received_on=datetime.date.today(),
        remittance="",
        actor=ops,
        company=company,
    )
    assert {unknown.status, second.status} == {Payment.Status.UNMATCHED}
    now = timezone.now()
    _back(Payment, unknown.pk, "created_at", now - 2 * DAY)

    queue = _queue("unmatched_payments", now)
    assert (queue.count, queue.oldest_at) == (2, now - 2 * DAY)
    assert listed_pks(admin, queue.url) == {unknown.pk, second.pk}


def test_failed_statements(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ops = operator_client(client)
    start, end = datetime.date(2025, 10, 1), datetime.date(2025, 10, 31)
    issued = statement_build(
        company=factories.company(), period_start=start, period_end=end, trigger="monthly"
    )

    def broken(content: object, path: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("billing.services.statements.files._write_xlsx", broken)
    failed = statement_build(
        company=factories.company(), period_start=start, period_end=end, trigger="monthly"
    )
    monkeypatch.undo()
    assert (issued.status, failed.status) == (Statement.Status.ISSUED, Statement.Status.FAILED)
    now = timezone.now()
    _back(Statement, failed.pk, "created_at", now - 26 * HOUR)

    queue = _queue("failed_statements", now)
    assert (queue.count, queue.oldest_at) == (1, now - 26 * HOUR)
    assert queue.age_text == "1\xa0day"
    assert listed_pks(admin, queue.url) == {failed.pk}


def test_failed_issuance_batches(client: Client) -> None:
    admin, _ops = operator_client(client)
    shop = shop_data.shop()
    shop_data.issue(shop)  # its batch is ready
    order = factories.submitted(shop.company, shop.people["purchaser"], quantity=3)
    order_begin_fulfilment(order_id=order.pk)
    batch = order.batches.get()
    issuance.batch_fail(batch_id=batch.pk, reason="the code keys were not loaded")
    now = timezone.now()
    _back(Batch, batch.pk, "created_at", now - 40 * datetime.timedelta(minutes=1))

    queue = _queue("failed_batches", now)
    assert (queue.count, queue.oldest_at) == (1, now - 40 * datetime.timedelta(minutes=1))
    assert queue.age_text == "40\xa0minutes"
    assert listed_pks(admin, queue.url) == {batch.pk}


def test_frozen_merchant_keys_and_guessing_alerts(client: Client, settings: Settings) -> None:
    admin, ops = operator_client(client)
    frozen, _ = merchant_key()
    gone, _ = merchant_key()
    fine, _ = merchant_key()
    merchant_key_freeze(key_id=frozen.pk, reason="failure-burst")
    merchant_key_freeze(key_id=gone.pk, reason="canary")
    merchant_key_revoke(key=gone, actor=ops)
    now = timezone.now()
    _back(MerchantApiKey, frozen.pk, "frozen_at", now - 2 * HOUR)

    keys = _queue("frozen_keys", now)
    assert (keys.count, keys.oldest_at) == (1, now - 2 * HOUR)
    assert listed_pks(admin, keys.url) == {frozen.pk}

    # A client address reaches its limit of failed look-ups: it is blocked until the window ends.
    settings.MERCHANT_FAILURES_PER_IP = 2
    for _attempt in range(2):
        failure_count(key=fine, ip="203.0.113.9", prefix="")
    # A block whose window has ended (the sweep has not run yet) is no longer an alert.
    LookupBlock.objects.create(subject="ip:198.51.100.1", until=now - HOUR)
    block = LookupBlock.objects.get(subject="ip:203.0.113.9")
    window = datetime.timedelta(seconds=settings.MERCHANT_FAILURE_WINDOW_SECONDS)

    guessing = _queue("guessing")
    assert (guessing.count, guessing.oldest_at) == (1, block.until - window)
    assert listed_pks(admin, guessing.url) == {block.pk}
    listing = admin.get(guessing.url).content.decode()
    assert "Client address" in listing
    assert "203.0.113.9" in listing
    assert "198.51.100.1" not in listing


def test_a_blocked_code_prefix_is_shown_by_a_few_characters_of_its_digest(
    client: Client, settings: Settings
) -> None:
    admin, _ops = operator_client(client)
    key, _ = merchant_key()
    settings.MERCHANT_FAILURES_PER_CODE_PREFIX = 1
    prefix = "0123456789abcdef0123456789abcdef"
    failure_count(key=key, ip="203.0.113.10", prefix=prefix)
    listing = admin.get(_queue("guessing").url).content.decode()
    assert "Code prefix" in listing
    assert "01234567…" in listing
    assert prefix not in listing


def test_card_service_waiting_for_a_second_operator(client: Client) -> None:
    admin, _ops = operator_client(client)
    shop = shop_data.shop()
    first, second, third = shop_data.cards_of(shop_data.issue(shop, quantity=3))
    waiting = [
        card_service_request_create(card=card, action="void", reason="Lost", actor=shop.maker)
        for card in (first, second)
    ]
    rejected = card_service_request_create(
        card=third, action="void", reason="Lost", actor=shop.maker
    )
    card_service_request_reject(service_request=rejected, reason="Found again", actor=shop.checker)
    now = timezone.now()
    _back(CardServiceRequest, waiting[1].pk, "requested_at", now - 4 * DAY)

    queue = _queue("card_service", now)
    assert (queue.count, queue.oldest_at) == (2, now - 4 * DAY)
    assert listed_pks(admin, queue.url) == {request.pk for request in waiting}


def test_ledger_check_alerts_are_the_failures_since_the_last_pass(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, _ops = operator_client(client)
    holds = {"ok": False}
    monkeypatch.setitem(
        __import__("billing.invariants").invariants._INVARIANTS,
        "console_test",
        lambda: {"ok": holds["ok"], "expected": "0", "actual": "1"},
    )
    cleared = ledger_check_run()  # a drift, later cleared by a pass
    holds["ok"] = True
    ledger_check_run()
    holds["ok"] = False
    alerts = [ledger_check_run(), ledger_check_run()]
    assert not cleared.ok
    assert not any(run.ok for run in alerts)

    queue = _queue("ledger_check")
    assert (queue.count, queue.oldest_at) == (2, alerts[0].ran_at)
    assert listed_pks(admin, queue.url) == {run.pk for run in alerts}

    # A pass clears the queue.
    holds["ok"] = True
    ledger_check_run()
    assert _queue("ledger_check").count == 0
    assert LedgerCheck.objects.filter(ok=False).count() == 3


def test_the_index_highlights_queues_with_items_and_links_to_their_lists(client: Client) -> None:
    admin, _ops = operator_client(client)
    factories.company(status=Company.Status.PENDING)
    page = admin.get(INDEX).content.decode()
    assert "1 item waits for an operator." in page
    kyc = re.search(r'<li class="([^"]+)" data-testid="queue-kyc">(.*?)</li>', page, re.S)
    assert kyc is not None
    assert kyc.group(1) == "console-queue console-queue-due"
    assert 'href="/ops/portal/company/?kyc=waiting"' in kyc.group(2)
    assert '<span class="console-queue-count" data-testid="queue-kyc-count">1</span>' in kyc.group(
        2
    )
    assert "oldest waiting 0\xa0minutes" in kyc.group(2)
    assert 'data-testid="queue-risk_review"' in page
    assert 'class="console-queue console-queue-clear" data-testid="queue-risk_review"' in page
