"""Request IDs: every answer (API, portal pages, the admin, the merchant API) carries
X-Request-ID, the client's when it is valid, else a new one; every log line written for the
request names it, and so do the log lines of the Celery tasks it queued (through the outbox)."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client

from conftest import WorkerPool
from portal.models import OutboxMessage, User
from portal.request_id import RequestIdLogFilter
from tests import factories
from tests.api.helpers import ORDERS, Api, buyer, line, order_body
from tests.cards.spend.test_merchant_wsgi import _call
from tests.conftest import sign_in

pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing")]

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/v1/orders", "/api/v1/nothing-here", "/login/", f"/{settings.ADMIN_PATH}login/"],
)
def test_every_answer_echoes_a_valid_request_id(path: str) -> None:
    client = Client(headers={"x-request-id": "checkout-7f3a:retry.2_b"})
    assert client.get(path)["X-Request-ID"] == "checkout-7f3a:retry.2_b"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sent",
    ["", "has space", "new\nline", "x" * 201, "semi;colon", "über"],
)
def test_an_invalid_request_id_is_replaced_by_a_new_one(sent: str) -> None:
    answer = Client(headers={"x-request-id": sent}).get("/api/v1/orders")
    assert NEW_ID.fullmatch(answer["X-Request-ID"])


@pytest.mark.django_db
def test_without_one_each_request_gets_its_own() -> None:
    client = Client()
    ids = {client.get(path)["X-Request-ID"] for path in ["/login/", "/login/", "/api/v1/orders"]}
    assert len(ids) == 3
    assert all(NEW_ID.fullmatch(value) for value in ids)
    assert Client(headers={"x-request-id": "y" * 200}).get("/login/")["X-Request-ID"] == "y" * 200


@pytest.mark.django_db
def test_the_merchant_api_echoes_it_through_the_wsgi_application() -> None:
    status, headers, _content = _call(
        "/api/v1/merchant/balance", body={"code": "A"}, x_request_id="till-4:sale-99"
    )
    assert status == 401
    assert headers["x-request-id"] == ["till-4:sale-99"]
    _status, headers, _content = _call("/api/v1/merchant/balance", body={"code": "A"})
    assert NEW_ID.fullmatch(headers["x-request-id"][0])


@pytest.fixture
def console_lines() -> Iterator[io.StringIO]:
    """What the configured console handler (portal/settings/logging.py) writes."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RequestIdLogFilter) for f in h.filters)
    )
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
def test_the_log_lines_of_a_request_name_its_id(console_lines: io.StringIO) -> None:
    # Django logs a 404 after the view (and the middleware) returned: it still names the ID.
    Api(buyer().keys["viewer"]).client.get(
        "/api/v1/orders/PO-NO-SUCH", headers={"x-request-id": "trace-404-abc"}
    )
    logging.getLogger("portal.test").warning("after the request")
    lines = console_lines.getvalue().splitlines()
    assert any("[trace-404-abc]" in text and "Not Found" in text for text in lines), lines
    # Outside a request, "-".
    assert lines[-1].endswith("portal.test [-] after the request")


@pytest.mark.django_db
def test_an_outbox_message_keeps_the_id_of_the_request_that_queued_it() -> None:
    acme = buyer()
    product = factories.product()
    before = set(OutboxMessage.objects.values_list("pk", flat=True))
    # (Queued outside any request, as the keys of buyer() were: no ID.)
    assert set(OutboxMessage.objects.values_list("request_id", flat=True)) == {""}
    created = acme.api("purchaser").post(
        ORDERS,
        order_body(line(product), submit=True),
        idempotency_key="o-1",
        **{"X-Request-ID": "order-req-1"},
    )
    assert created.status_code == 201, created.json()
    assert created["X-Request-ID"] == "order-req-1"
    queued = OutboxMessage.objects.exclude(pk__in=before)
    assert queued.exists()
    assert {m.request_id for m in queued} == {"order-req-1"}

    # An operator finds them in the admin by the ID a support ticket quotes.
    operator = User.objects.create_superuser("ops@portal.example", "Correct-Horse-42")
    client = Client()
    sign_in(client, operator, second_factor=True)
    found = client.get(f"/{settings.ADMIN_PATH}portal/outboxmessage/", {"q": "order-req-1"})
    assert found.status_code == 200
    assert found.context["cl"].result_count == queued.count()


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_a_request_logs_under_its_id(
    celery_worker_process: object, worker_pool: WorkerPool
) -> None:
    acme = buyer()
    product = factories.product()
    created = acme.api("purchaser").post(
        ORDERS,
        order_body(line(product), submit=True),
        idempotency_key="o-2",
        **{"X-Request-ID": "order-req-to-worker"},
    )
    assert created.status_code == 201, created.json()
    task = OutboxMessage.objects.get(request_id="order-req-to-worker").task
    worker = worker_pool.shared_worker()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [
            text
            for text in worker.log_text().splitlines()
            if "[order-req-to-worker]" in text and task in text
        ]
        if found:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no log line of {task} names the request:\n{worker.log_text()[-3000:]}")


def test_a_task_published_during_a_request_carries_its_id_and_logs_under_it() -> None:
    """The signal handlers (no worker): the publish adds the header, the worker's prerun sets the
    ID from it and postrun clears it."""
    from portal import request_id as ids

    headers: dict[str, str] = {}
    token = ids._current.set("direct-delay-1")
    try:
        ids._publish_with_request_id(headers=headers)
    finally:
        ids._current.reset(token)
    assert headers == {ids.TASK_HEADER: "direct-delay-1"}
    # The outbox's own header (the request that queued it) is kept.
    kept = {ids.TASK_HEADER: "queued-earlier"}
    ids._publish_with_request_id(headers=kept)
    assert kept == {ids.TASK_HEADER: "queued-earlier"}

    task = SimpleNamespace(request=SimpleNamespace(portal_request_id="direct-delay-1"))
    ids._task_starts(task_id="t-1", task=task)
    assert ids.current_request_id() == "direct-delay-1"
    ids._task_ends(task_id="t-1")
    assert ids.current_request_id() == ""
    # A header that is not a valid ID is not used.
    forged = SimpleNamespace(request=SimpleNamespace(headers={ids.TASK_HEADER: "a b\nc"}))
    ids._task_starts(task_id="t-2", task=forged)
    assert ids.current_request_id() == ""
    ids._task_ends(task_id="t-2")
