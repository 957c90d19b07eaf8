"""Follow-ups of money acts survive a broker outage (the transactional outbox).

With the broker and result backend unreachable, approving an order or creating one that is funded
at once answers normally; once the broker is back, a real worker with beat generates the cards and
emails the approvers with no manual step. The outbox itself: a rolled-back transaction publishes
nothing, a committed one publishes once, a failed publish is relayed later. The issuance sweep
starts a funded order whose start was lost, and the nightly ledger check reports its value.
"""

# Orders looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr, attr-defined"

from __future__ import annotations

import contextlib
import datetime
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.services.receivables import ledger_check_run
from cards import tasks as card_tasks
from cards.models import Card, Order, OrderStatus
from portal.celery import app
from tests import factories
from tests.api.helpers import ORDERS, Api, key_for
from tests.conftest import sign_in
from tests.portal.test_celery import Published, _mail_files, _read_mail
from tests.portal.test_settings import _manage

if TYPE_CHECKING:
    from conftest import Worker

pytestmark = pytest.mark.usefixtures("english_and_fast_hashing")

WAIT = 90.0
# Generous: a request must not wait on the broker's reconnect loops (about 20 s before the fix).
ANSWER_WITHIN = 10.0
# The worker's beat runs the relay every second, so the tests need not wait a minute.
WORKER_ENV = {"OUTBOX_RELAY_SECONDS": "1"}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _forget_connections() -> None:
    """Drop this process's broker pools and result backend, so the next publish connects to
    whatever the configuration now says."""
    app._after_fork()  # forgets the connection and producer pools
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@contextlib.contextmanager
def broker_away(password: str = "") -> Iterator[str]:
    """Redis is unreachable for this process (the web side): the broker and the result backend
    point at a port where nothing listens, until the block ends."""
    auth = f":{password}@" if password else ""
    dead = f"redis://{auth}127.0.0.1:{_unused_port()}/0"
    saved = {name: app.conf[name] for name in ("broker_url", "result_backend")}
    app.conf["broker_url"] = dead
    app.conf["result_backend"] = dead
    _forget_connections()
    try:
        yield dead
    finally:
        app.conf["broker_url"] = saved["broker_url"]
        app.conf["result_backend"] = saved["result_backend"]
        _forget_connections()


@contextlib.contextmanager
def broker_silent() -> Iterator[None]:
    """The broker accepts connections and never answers (a cut proxy, a half-open route)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    saved = {name: app.conf[name] for name in ("broker_url", "result_backend")}
    app.conf["broker_url"] = app.conf["result_backend"] = f"redis://127.0.0.1:{port}/0"
    _forget_connections()
    try:
        yield
    finally:
        app.conf["broker_url"] = saved["broker_url"]
        app.conf["result_backend"] = saved["result_backend"]
        _forget_connections()
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def assert_normal_answer(
    response: Any, started: float, status_code: int, location: str = ""
) -> None:
    elapsed = time.monotonic() - started
    content = response.content.decode(errors="replace")
    assert response.status_code == status_code, content[:2000]
    assert "Server error" not in content
    assert "<title>500" not in content
    assert elapsed < ANSWER_WITHIN, f"the answer took {elapsed:.1f} s"
    if location:
        assert response["Location"] == location


def assert_relayed(task: Any, order: Order) -> None:
    """The order's follow-up failed to publish after its commit and the relay published it."""
    from portal.models import OutboxMessage

    message = OutboxMessage.objects.get(task=task.name, args=[order.pk])
    assert message.published_at is not None
    assert message.attempts >= 2


def mail_to(mail_dir: Path, before: set[Path], address: str) -> bool:
    return any(address in _read_mail(path)[0] for path in _mail_files(mail_dir) - before)


# --- With a real worker: the broker goes away during the money act ------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_approval_during_a_broker_outage_answers_and_its_follow_ups_run_later(
    celery_worker_factory: Callable[..., Worker], mail_dir: Path, settings: Settings
) -> None:
    # Given a company whose orders over 1,000 need an approver, and no worker running yet
    company = factories.company(approval_threshold="1000.00")
    people = factories.team(company)
    factories.credit_line(company, "100000.00")
    order = factories.draft(company, people["purchaser"], quantity=20)  # 2,000
    purchaser, approver = Client(), Client()
    sign_in(purchaser, people["purchaser"], second_factor=False)
    sign_in(approver, people["approver"], second_factor=True)
    before = _mail_files(mail_dir)

    # When the purchaser submits it while Redis is unreachable
    with broker_away():
        started = time.monotonic()
        response = purchaser.post(f"/orders/{order.number}/submit/")
        # Then the purchaser gets the usual redirect to the order, quickly
        assert_normal_answer(response, started, 302, f"/orders/{order.number}/")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL

    # And once the broker is back, a worker with beat emails the approvers, with no manual step
    worker = celery_worker_factory(env=WORKER_ENV, beat=True, concurrency=1)
    wait_for(lambda: mail_to(mail_dir, before, people["approver"].email), "the approvers' email")
    worker.stop()

    # When the approver approves while Redis is unreachable again
    with broker_away():
        started = time.monotonic()
        response = approver.post(f"/orders/{order.number}/approve/")
        assert_normal_answer(response, started, 302, f"/orders/{order.number}/")
    # Then the invoice and the ledger entry are committed, the order is funded and waits
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert order.invoice is not None
    assert not order.batches.exists()

    # And once the broker is back, the cards are generated without anyone doing anything
    celery_worker_factory(env=WORKER_ENV, beat=True, concurrency=1)
    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FULFILLED,
        "the order's cards",
    )
    assert Card.objects.filter(batch__order=order).count() == 20
    assert_relayed(card_tasks.order_start_fulfilment, order)
    assert_relayed(card_tasks.order_notify_approvers, order)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_order_funded_at_creation_during_a_broker_outage_gets_its_cards_later(
    celery_worker_factory: Callable[..., Worker], settings: Settings
) -> None:
    # Given a company on credit whose approval threshold is above the order
    company = factories.company(approval_threshold="100000.00")
    people = factories.team(company)
    factories.credit_line(company, "100000.00")
    product = factories.product()
    api = Api(key_for(company, people["purchaser"]))

    # When a purchaser creates and submits an order through the API while Redis is unreachable
    with broker_away():
        started = time.monotonic()
        response = api.post(
            ORDERS,
            {
                "lines": [{"product": str(product.public_id), "face_value": "100", "quantity": 5}],
                "submit": True,
            },
            idempotency_key="outage-1",
        )
        # Then the API answers 201 with the funded order, quickly, in JSON
        assert_normal_answer(response, started, 201)
    assert response.json()["status"] == OrderStatus.FUNDED
    order = Order.objects.get(number=response.json()["number"])
    assert order.invoice is not None
    assert not order.batches.exists()

    # And once the broker is back, a worker with beat generates the cards, with no manual step
    celery_worker_factory(env=WORKER_ENV, beat=True, concurrency=1)
    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FULFILLED,
        "the order's cards",
    )
    assert Card.objects.filter(batch__order=order).count() == 5
    assert_relayed(card_tasks.order_start_fulfilment, order)


# --- The outbox ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_publishes_nothing() -> None:
    from portal.models import OutboxMessage
    from portal.services.outbox import outbox_enqueue

    class Abort(Exception):
        pass

    def enqueue_then_fail() -> None:
        with transaction.atomic():
            outbox_enqueue(card_tasks.order_start_fulfilment, 10**9)
            raise Abort

    with Published() as published, pytest.raises(Abort):
        enqueue_then_fail()
    assert published.messages == []
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_committed_transaction_publishes_its_message_once() -> None:
    from portal.models import OutboxMessage
    from portal.services.outbox import outbox_enqueue, outbox_relay

    with Published() as published:
        with transaction.atomic():
            outbox_enqueue(card_tasks.order_start_fulfilment, 10**9)
            # Not before the commit
            assert published.messages == []
        assert [(m["task"], list(m["body"][0])) for m in published.messages] == [
            ("cards.tasks.order_start_fulfilment", [10**9])
        ]
        # The relay finds nothing left to publish
        assert outbox_relay() == 0
    assert len(published.messages) == 1
    message = OutboxMessage.objects.get()
    assert message.published_at is not None
    assert message.attempts == 1


def test_the_outbox_takes_ids_not_objects_or_secrets() -> None:
    from portal.services.outbox import outbox_enqueue

    with pytest.raises(TypeError):
        outbox_enqueue(card_tasks.order_start_fulfilment, {"code": "secret"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no Celery task"):
        outbox_enqueue("cards.tasks.no_such_task", 1)


@pytest.mark.django_db(transaction=True)
def test_a_publish_that_failed_is_relayed_once_the_broker_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from portal.models import OutboxMessage
    from portal.services.outbox import outbox_enqueue, outbox_relay

    caplog.set_level(logging.WARNING)
    with Published() as published:
        # When the broker is away at commit time
        with broker_away(password="broker-s3cret") as dead:
            started = time.monotonic()
            with transaction.atomic():
                outbox_enqueue(card_tasks.order_notify_approvers, 10**9)
            # Then the commit returns (no exception, no long wait) and nothing went out
            assert time.monotonic() - started < ANSWER_WITHIN
            assert published.messages == []
            message = OutboxMessage.objects.get()
            assert message.published_at is None
            assert message.attempts == 1
            assert message.last_error
            # The relay cannot publish either while the broker is away, and counts the attempt
            assert outbox_relay() == 0
            assert OutboxMessage.objects.get().attempts == 2
        # The failure is logged, without the broker's URL or password
        assert "outbox" in caplog.text
        assert "broker-s3cret" not in caplog.text
        assert dead not in caplog.text
        assert "broker-s3cret" not in OutboxMessage.objects.get().last_error

        # When the broker is back, the relay publishes it, once
        assert outbox_relay() == 1
        assert outbox_relay() == 0
    assert [m["task"] for m in published.messages] == ["cards.tasks.order_notify_approvers"]
    message = OutboxMessage.objects.get()
    assert message.published_at is not None
    assert message.attempts == 3


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_never_answers_does_not_hold_the_commit_for_long() -> None:
    from portal.models import OutboxMessage
    from portal.services.outbox import outbox_enqueue

    with broker_silent():
        started = time.monotonic()
        with transaction.atomic():
            outbox_enqueue(card_tasks.order_start_fulfilment, 10**9)
        assert time.monotonic() - started < ANSWER_WITHIN
    message = OutboxMessage.objects.get()
    assert message.published_at is None
    assert message.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_that_fails_alone_does_not_hold_back_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portal.models import OutboxMessage
    from portal.services import outbox

    sent: list[str] = []

    def send(producer: Any, message: Any) -> None:
        if message.args == [1]:
            raise ValueError("cannot encode")
        sent.append(message.task)

    with transaction.atomic():
        monkeypatch.setattr(outbox, "publish_after_commit", lambda message_id: None)
        poison = outbox.outbox_enqueue(card_tasks.order_notify_ready, 1)
        outbox.outbox_enqueue(card_tasks.order_notify_creator, 2)
    monkeypatch.setattr(outbox, "_send", send)

    assert outbox.outbox_relay() == 1
    assert sent == ["cards.tasks.order_notify_creator"]
    poison = OutboxMessage.objects.get(pk=poison.pk)
    assert (poison.published_at, poison.attempts, poison.last_error) == (None, 1, "ValueError")


EMBEDDED_SCRIPT = """
from django.conf import settings
from django.db import transaction
from portal.models import OutboxMessage
from portal.services.outbox import outbox_enqueue, outbox_relay
with transaction.atomic():
    first = outbox_enqueue("cards.tasks.order_start_fulfilment", 1)
first.refresh_from_db()
waiting = OutboxMessage.objects.create(task="cards.tasks.order_notify_approvers", args=[2])
relayed = outbox_relay()
waiting.refresh_from_db()
print("RESULT", first.published_at is not None, relayed, waiting.published_at is not None)
"""


def test_the_embedded_default_publishes_and_relays_through_its_file_broker(
    tmp_path: Path,
) -> None:
    # Given the embedded default: SQLite and the file broker under var/, no Redis
    env = {"PORTAL_ENV": "development", "PORTAL_VAR_DIR": str(tmp_path)}
    assert _manage("migrate", "--noinput", env=env).returncode == 0
    # When a follow-up is committed, and another waits for the relay
    result = _manage("shell", "--verbosity", "0", "-c", EMBEDDED_SCRIPT, env=env)
    assert result.returncode == 0, result.stderr
    # Then the first is published after its commit and the relay publishes the other
    assert "RESULT True 1 True" in result.stdout
    messages = [p for p in (tmp_path / "broker" / "queue").iterdir() if p.is_file()]
    assert len(messages) == 2


def test_beat_runs_the_relay_every_minute_or_so(settings: Settings) -> None:
    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "portal.tasks.outbox_relay"
    )
    assert entry["schedule"] <= 120
    assert "portal.tasks.outbox_relay" in app.tasks


def test_fire_and_forget_tasks_keep_no_result() -> None:
    assert app.conf.task_ignore_result is True
    assert app.tasks["cards.tasks.order_start_fulfilment"].ignore_result is True
    # The workers' ping is read by whoever sends it.
    assert app.tasks["portal.tasks.ping"].ignore_result is False


# --- Stranded funded orders ----------------------------------------------------------------------


def _stranded_order(settings: Settings, *, minutes_ago: int) -> Order:
    """A credit order funded ``minutes_ago`` whose start message never ran (in these
    non-transactional tests nothing is published: the transaction never commits)."""
    company = factories.company(approval_threshold="100000.00")
    people = factories.team(company)
    factories.credit_line(company, "100000.00")
    order = factories.submitted(company, people["purchaser"], quantity=7)
    assert order.status == OrderStatus.FUNDED
    Order.objects.filter(pk=order.pk).update(
        funded_at=timezone.now() - datetime.timedelta(minutes=minutes_ago)
    )
    return order


@pytest.mark.django_db
def test_the_issuance_sweep_starts_a_funded_order_that_never_started(settings: Settings) -> None:
    settings.ORDER_FUNDED_STALE_SECONDS = 300
    stranded = _stranded_order(settings, minutes_ago=10)
    recent = _stranded_order(settings, minutes_ago=1)

    card_tasks.sweep_issuance()

    stranded.refresh_from_db()
    recent.refresh_from_db()
    assert stranded.status == OrderStatus.FULFILLING
    assert stranded.batches.count() == 1
    # An order funded a minute ago is still within its normal start time
    assert recent.status == OrderStatus.FUNDED
    assert not recent.batches.exists()


@pytest.mark.django_db
def test_the_ledger_check_reports_value_waiting_for_orders_that_never_started(
    settings: Settings, mailoutbox: list[object]
) -> None:
    settings.ORDER_FUNDED_STALE_SECONDS = 300
    factories.operator("ops@example.com")
    stranded = _stranded_order(settings, minutes_ago=60)

    run = ledger_check_run()

    assert run.ok is False
    result = run.results["cards_to_issue_all_started"]
    assert result["ok"] is False
    assert Decimal(result["actual"]) == stranded.face_total == Decimal("700.00")
    assert result["stranded_orders"] == [stranded.number]
    assert Decimal(result["cards_to_issue"]) >= stranded.face_total
    # The other invariants still hold: only the stranded order is reported
    assert all(r["ok"] for name, r in run.results.items() if name != "cards_to_issue_all_started")
    [alert] = mailoutbox
    assert stranded.number in alert.body
    assert "never generated" in alert.body


@pytest.mark.django_db
def test_the_ledger_check_is_quiet_once_the_order_started(settings: Settings) -> None:
    settings.ORDER_FUNDED_STALE_SECONDS = 300
    stranded = _stranded_order(settings, minutes_ago=60)
    card_tasks.sweep_issuance()
    stranded.refresh_from_db()
    assert stranded.status == OrderStatus.FULFILLING
    assert ledger_check_run().results["cards_to_issue_all_started"]["ok"] is True
