"""An order's events reach the receiver signed in the Standard Webhooks format, after commit,
with a per-object sequence; a rotated secret keeps signing during its overlap."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cards.services.workflow import order_cancel, order_submit
from portal.models import Company, User
from tests import factories
from tests.webhooks.conftest import emitted, queued_deliveries
from tests.webhooks.receiver import Receiver
from webhooks.events import PAYLOAD_VERSION
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.delivery import delivery_attempt
from webhooks.services.endpoints import endpoint_rotate_secret

pytestmark = pytest.mark.django_db


def test_a_submitted_order_reaches_the_receiver_signed_and_verifiable(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    deliver_queued: Callable[[], list[Any]],
) -> None:
    order = factories.submitted(company, owner)

    events = list(emitted(company=company, object_id=order.number))
    assert [e.type for e in events] == ["order.submitted", "order.funded"]
    assert [e.sequence for e in events] == [1, 2]
    # Nothing was sent in the request: the attempts wait in the outbox.
    assert receiver.received == []
    assert len(queued_deliveries()) == 2

    results = deliver_queued()

    assert [r.state for r in results] == ["succeeded", "succeeded"]
    first = receiver.received[0]
    assert first.payload is not None, "the signature verifies with the endpoint's secret"
    assert first.headers["webhook-id"] == events[0].public_id
    assert first.payload["type"] == "order.submitted"
    assert first.payload["version"] == PAYLOAD_VERSION
    assert first.payload["object"] == {"type": "order", "id": order.number, "sequence": 1}
    assert first.payload["data"]["number"] == order.number
    assert first.payload["data"]["total"] == str(order.total)
    attempt = DeliveryAttempt.objects.get(delivery__event=events[0])
    assert attempt.outcome == DeliveryAttempt.Outcome.SUCCEEDED
    assert attempt.response_status == 200
    assert attempt.response_body == '{"ok": true}'
    assert attempt.latency_ms is not None
    endpoint_row = WebhookEndpoint.objects.get()
    assert endpoint_row.last_success_at is not None


def test_another_secret_does_not_verify(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    deliver_queued: Callable[[], list[Any]],
) -> None:
    factories.submitted(company, owner)
    deliver_queued()
    delivered = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(delivered.body, delivered.headers)


def test_a_rolled_back_change_records_and_sends_nothing(
    company: Company, owner: User, endpoint: tuple[WebhookEndpoint, str]
) -> None:
    order = factories.draft(company, owner)

    def submit_then_fail() -> None:
        with transaction.atomic():
            order_submit(order=order, actor=owner)
            raise RuntimeError("the change fails after the event")

    with pytest.raises(RuntimeError):
        submit_then_fail()
    assert not emitted(company=company).exists()
    assert queued_deliveries() == []


def test_events_the_endpoint_does_not_subscribe_to_are_recorded_but_not_sent(
    company: Company, owner: User, endpoint: tuple[WebhookEndpoint, str]
) -> None:
    order = factories.submitted(company, owner)
    order_cancel(order=order, actor=owner, reason="not needed")
    cancelled = emitted(company=company, type="order.cancelled").get()
    assert not Delivery.objects.filter(event=cancelled).exists()


def test_during_a_rotation_both_secrets_sign_and_after_it_only_the_new_one(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    deliver_queued: Callable[[], list[Any]],
) -> None:
    row, old_secret = endpoint
    _rotated, new_secret = endpoint_rotate_secret(endpoint=row, actor=owner, overlap_hours=2)
    assert new_secret != old_secret

    factories.submitted(company, owner)
    deliver_queued()
    during = receiver.received[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(during.body, during.headers)
    Webhook(new_secret).verify(during.body, during.headers)

    # The overlap ends (as two hours later).
    WebhookEndpoint.objects.filter(pk=row.pk).update(
        previous_secret_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    factories.submitted(company, owner)
    deliver_queued()
    after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(after.body, after.headers)


def test_the_secret_is_stored_encrypted(endpoint: tuple[WebhookEndpoint, str]) -> None:
    row, secret = endpoint
    stored = WebhookEndpoint.objects.get(pk=row.pk)
    assert secret.encode() not in bytes(stored.secret_ciphertext)
    assert secret[6:].encode() not in bytes(stored.secret_ciphertext)


def test_a_second_attempt_message_for_a_finished_delivery_does_nothing(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
) -> None:
    factories.submitted(company, owner)
    delivery_id = queued_deliveries()[0]
    assert delivery_attempt(delivery_id=delivery_id).state == "succeeded"
    assert delivery_attempt(delivery_id=delivery_id).state == "done"
    assert len(receiver.received) == 1
