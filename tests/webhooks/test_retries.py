"""A failing receiver: the delivery task schedules each retry at the published delays, gives up
after the last, and an endpoint failing for days is disabled and its owners are emailed."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from pytest_django.fixtures import Settings

from portal.models import AuditEvent, Company, OutboxMessage, User
from tests import factories
from tests.webhooks.conftest import queued_deliveries
from tests.webhooks.receiver import Receiver
from webhooks import tasks
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.delivery import LEASE_EXTRA_SECONDS
from webhooks.services.delivery import attempt_record as delivery_attempt_record
from webhooks.services.endpoints import endpoint_enable
from webhooks.services.notify import endpoint_disabled_notify

pytestmark = pytest.mark.django_db


def test_the_default_schedule_is_the_published_one(settings: Settings) -> None:
    assert settings.WEBHOOKS_RETRY_SCHEDULE == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    assert settings.WEBHOOKS_TIMEOUT_SECONDS in {15.0, 5.0}  # 5 in this module's fixture


def test_a_failing_receiver_is_retried_on_the_schedule_then_the_delivery_fails(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 1, 2, 3]
    receiver.status = 503
    receiver.answer = b"maintenance until 02:00" + b"x" * 5000
    scheduled: list[tuple[list[Any], float]] = []

    def apply_async(*, args: list[Any], countdown: float) -> None:
        scheduled.append((args, countdown))

    monkeypatch.setattr(tasks.delivery_attempt, "apply_async", apply_async)
    factories.submitted(company, owner)
    delivery_id = queued_deliveries()[0]

    states = [tasks.delivery_attempt(delivery_id)]
    while scheduled and len(states) < 10:
        args, _countdown = scheduled[-1]
        # As the broker would, when the countdown ends.
        Delivery.objects.filter(pk=args[0]).update(next_attempt_at=timezone.now())
        scheduled_before = len(scheduled)
        states.append(tasks.delivery_attempt(*args))
        if len(scheduled) == scheduled_before:
            break

    assert [countdown for _args, countdown in scheduled] == [1, 2, 3]
    assert states == ["retry", "retry", "retry", "failed"]
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.status == Delivery.Status.FAILED
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery))
    assert [a.number for a in attempts] == [1, 2, 3, 4]
    assert {a.response_status for a in attempts} == {503}
    assert attempts[0].response_body.startswith("maintenance until 02:00")
    assert len(attempts[0].response_body) == 1000
    assert len(receiver.received) == 4


def test_an_attempt_answered_after_a_later_one_leaves_the_delivery_as_the_later_left_it(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks.delivery_attempt, "apply_async", lambda **kwargs: None)
    factories.submitted(company, owner)
    delivery_id = queued_deliveries()[0]
    assert tasks.delivery_attempt(delivery_id) == "succeeded"

    # Attempt 1 outlived its lease and answers only now, with a failure.
    late = delivery_attempt_record(
        delivery_id=delivery_id,
        number=1,
        started_at=timezone.now(),
        outcome="timeout",
        latency_ms=None,
        response_status=None,
        response_body="",
        error="timed out",
    )

    assert late.state == "done"
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert WebhookEndpoint.objects.get(pk=endpoint[0].pk).consecutive_failures == 0
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 2  # both kept


def test_an_attempt_is_cut_short_inside_its_lease(settings: Settings) -> None:
    lease = settings.WEBHOOKS_TIMEOUT_SECONDS + LEASE_EXTRA_SECONDS
    assert tasks.delivery_attempt.time_limit is not None
    assert tasks.delivery_attempt.time_limit < lease


def test_an_attempt_that_is_not_due_yet_does_nothing(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.status = 500
    monkeypatch.setattr(tasks.delivery_attempt, "apply_async", lambda **kwargs: None)
    factories.submitted(company, owner)
    delivery_id = queued_deliveries()[0]
    assert tasks.delivery_attempt(delivery_id) == "retry"
    # A duplicate message arrives before the retry is due.
    assert tasks.delivery_attempt(delivery_id) == "not-due"
    assert len(receiver.received) == 1


def test_a_retry_too_far_off_for_a_countdown_is_left_to_the_sweep(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 3600]
    receiver.status = 500
    scheduled: list[Any] = []
    monkeypatch.setattr(
        tasks.delivery_attempt, "apply_async", lambda **kwargs: scheduled.append(kwargs)
    )
    queued: list[int] = []
    monkeypatch.setattr(
        tasks.delivery_attempt, "delay", lambda delivery_id: queued.append(delivery_id)
    )
    factories.submitted(company, owner)
    delivery_id = queued_deliveries()[0]
    assert tasks.delivery_attempt(delivery_id) == "retry"
    assert scheduled == []
    assert tasks.deliveries_sweep() == 0
    Delivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert tasks.deliveries_sweep() == 1
    assert queued == [delivery_id]


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_failing_for_days_is_disabled_and_its_owners_emailed(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The outbox's publish after commit is left out: the test runs the follow-ups itself.
    monkeypatch.setattr("portal.services.outbox.publish_after_commit", lambda message_id: None)
    monkeypatch.setattr(tasks.delivery_attempt, "apply_async", lambda **kwargs: None)
    settings.WEBHOOKS_DISABLE_AFTER_DAYS = 3
    receiver.status = 500
    row, _secret = endpoint
    factories.submitted(company, owner)
    first, second = queued_deliveries()

    assert tasks.delivery_attempt(first) == "retry"
    row.refresh_from_db()
    assert row.enabled
    assert row.failing_since is not None
    # Three days of failures later (as if every retry since had failed too):
    WebhookEndpoint.objects.filter(pk=row.pk).update(
        failing_since=timezone.now() - datetime.timedelta(days=3, minutes=1)
    )
    assert tasks.delivery_attempt(second) == "failed"

    row.refresh_from_db()
    assert not row.enabled
    assert row.disabled_reason == WebhookEndpoint.DisabledReason.FAILING
    assert AuditEvent.objects.filter(action="webhook_endpoint.disabled").count() == 1
    notify = OutboxMessage.objects.get(task="webhooks.tasks.endpoint_disabled_notify")
    assert notify.args == [row.pk]
    assert endpoint_disabled_notify(endpoint_id=row.pk) == "sent"
    assert endpoint_disabled_notify(endpoint_id=row.pk) == "already-sent"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner.email]
    assert "disabled" in message.subject
    assert row.url in message.body
    assert _secret not in message.body
    # The first delivery's retry finds the endpoint disabled: cancelled, nothing sent.
    Delivery.objects.filter(pk=first).update(next_attempt_at=timezone.now())
    sent_before = len(receiver.received)
    assert tasks.delivery_attempt(first) == "cancelled"
    assert len(receiver.received) == sent_before

    # The owner enables it again once the receiver answers.
    endpoint_enable(endpoint=row, actor=owner)
    row.refresh_from_db()
    assert row.enabled
    assert row.failing_since is None
