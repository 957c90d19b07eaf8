"""Fixtures for the webhook tests: a company with an owner, a receiver on 127.0.0.1, an endpoint
registered through the service, and a way to run what the outbox queued."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from portal.models import Company, OutboxMessage, Role, User
from tests import factories
from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookEndpoint
from webhooks.services.delivery import AttemptResult, delivery_attempt
from webhooks.services.endpoints import endpoint_create


@pytest.fixture(autouse=True)
def _english(english_and_fast_hashing: None, settings: Settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 5.0


@pytest.fixture
def company(db: None) -> Company:
    created = factories.company()
    factories.credit_line(created, "1000000")
    return created


@pytest.fixture
def owner(company: Company) -> User:
    return factories.member(company, Role.OWNER)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def endpoint(company: Company, owner: User, receiver: Receiver) -> tuple[WebhookEndpoint, str]:
    created, secret = endpoint_create(
        company=company,
        actor=owner,
        url=receiver.url,
        event_types=["order.submitted", "order.approved", "order.funded", "card.redeemed"],
    )
    receiver.secret = secret
    return created, secret


def queued_deliveries() -> list[int]:
    """The ids of the deliveries whose first attempt the outbox holds, oldest first."""
    return [
        int(m.args[0])
        for m in OutboxMessage.objects.filter(task="webhooks.tasks.delivery_attempt").order_by("pk")
    ]


@pytest.fixture
def deliver_queued() -> Callable[[], list[AttemptResult]]:
    """Run the first attempt of every delivery the outbox holds, as a worker would."""

    def run() -> list[AttemptResult]:
        results = []
        for delivery_id in queued_deliveries():
            results.append(delivery_attempt(delivery_id=delivery_id))
        OutboxMessage.objects.filter(task="webhooks.tasks.delivery_attempt").delete()
        return results

    return run


def emitted(**kwargs: Any) -> Any:
    from webhooks.models import Event

    return Event.objects.filter(**kwargs).order_by("created_at", "id")
