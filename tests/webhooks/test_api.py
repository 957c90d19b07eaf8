"""The API: /api/v1/webhook-endpoints (the secret once, rotation, replay) and /api/v1/events
(cursor pages, filters), for the key's company only and owners only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from portal.models import ApiKey, Company, Role, User
from tests import factories
from tests.api.helpers import Api, key_for
from tests.webhooks.conftest import emitted, queued_deliveries
from tests.webhooks.receiver import Receiver
from webhooks.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook-endpoints"
EVENTS = "/api/v1/events"


def _api(company: Company, user: User, scopes: list[str] | None = None) -> Api:
    return Api(key_for(company, user, scopes))


def test_an_owner_registers_an_endpoint_and_sees_its_secret_once(
    company: Company, owner: User, receiver: Receiver
) -> None:
    api = _api(company, owner)
    created = api.post(
        ENDPOINTS,
        {"url": receiver.url, "event_types": ["order.submitted"], "description": "ERP"},
        idempotency_key="create-1",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["enabled"] is True
    again = api.post(
        ENDPOINTS,
        {"url": receiver.url, "event_types": ["order.submitted"], "description": "ERP"},
        idempotency_key="create-1",
    )
    assert again.json()["id"] == body["id"]
    assert WebhookEndpoint.objects.count() == 1

    listed = api.get(ENDPOINTS).json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]
    one = api.get(f"{ENDPOINTS}/{body['id']}").json()
    assert "secret" not in one
    assert one["last_success_at"] is None


def test_bad_input_names_the_field_and_the_value(company: Company, owner: User) -> None:
    api = _api(company, owner)
    wrong_type = api.post(ENDPOINTS, {"url": "https://e.example.com", "event_types": ["x.y"]})
    assert wrong_type.status_code == 400
    assert "event_types" in json.dumps(wrong_type.json())
    not_https = api.post(
        ENDPOINTS, {"url": "ftp://e.example.com", "event_types": ["order.submitted"]}
    )
    assert not_https.status_code == 400
    assert "url" in json.dumps(not_https.json())


def test_rotation_answers_a_new_secret_and_when_the_old_one_stops(
    company: Company, owner: User, endpoint: tuple[WebhookEndpoint, str]
) -> None:
    row, old = endpoint
    rotated = _api(company, owner).post(
        f"{ENDPOINTS}/{row.public_id}/rotate-secret", {"overlap_hours": 6}
    )
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["secret"] not in {old, ""}
    assert rotated.json()["previous_secret_expires_at"] is not None


def test_only_owners_and_only_with_the_scope(company: Company, owner: User) -> None:
    finance = factories.member(company, Role.FINANCE)
    refused = _api(company, finance).get(ENDPOINTS)
    assert refused.status_code == 403
    without_scope = _api(company, owner, [ApiKey.Scope.ORDERS_READ]).get(ENDPOINTS)
    assert without_scope.status_code == 403
    assert "webhooks:manage" in json.dumps(without_scope.json())


def test_another_companys_endpoint_is_a_404(
    company: Company, owner: User, endpoint: tuple[WebhookEndpoint, str]
) -> None:
    other = factories.company()
    other_owner = factories.member(other, Role.OWNER)
    row, _secret = endpoint
    assert _api(other, other_owner).get(f"{ENDPOINTS}/{row.public_id}").status_code == 404
    assert _api(other, other_owner).get(EVENTS).json()["results"] == []


def test_the_event_api_pages_by_cursor_and_filters_by_type_and_time(
    company: Company, owner: User
) -> None:
    for _ in range(3):
        factories.submitted(company, owner)  # submitted, invoice issued, funded: 9 events
    api = _api(company, owner)
    every: list[dict[str, Any]] = []
    page = api.get(EVENTS, page_size=4).json()
    pages = 1
    while True:
        every += page["results"]
        if not page["next"]:
            break
        page = api.client.get(page["next"]).json()
        pages += 1
    assert pages == 3
    stored = list(emitted(company=company))
    assert len(stored) == 9
    assert [e["id"] for e in every] == [e.public_id for e in stored]
    sample = every[0]
    assert sample["type"] == "order.submitted"
    assert sample["object"]["type"] == "order"
    assert sample["object"]["sequence"] == 1
    assert sample["data"]["number"] == sample["object"]["id"]

    funded = api.get(EVENTS, type="order.funded").json()["results"]
    assert {e["type"] for e in funded} == {"order.funded"}
    assert len(funded) == 3
    after = api.get(EVENTS, created_after=stored[3].created_at.isoformat()).json()["results"]
    assert [e["id"] for e in after] == [e.public_id for e in stored[4:]]
    unknown = api.get(EVENTS, type="order.exploded")
    assert unknown.status_code == 400
    assert "order.exploded" in json.dumps(unknown.json(), ensure_ascii=False)
    one = api.get(f"{EVENTS}/{stored[0].public_id}").json()
    assert one["id"] == stored[0].public_id


def test_replay_of_one_event_and_of_a_period_through_the_api(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    deliver_queued: Callable[[], list[Any]],
) -> None:
    row, _secret = endpoint
    start = timezone.now()
    factories.submitted(company, owner)
    factories.submitted(company, owner)
    end = timezone.now()
    deliver_queued()
    assert len(receiver.received) == 4
    first = emitted(company=company).first()
    assert first is not None
    api = _api(company, owner)

    one = api.post(f"{ENDPOINTS}/{row.public_id}/replay", {"event": first.public_id})
    assert one.status_code == 202, one.content
    assert one.json() == {"replayed": 1}
    deliver_queued()
    assert receiver.received[-1].headers["webhook-id"] == first.public_id
    assert receiver.received[-1].payload == receiver.received[0].payload

    period = api.post(
        f"{ENDPOINTS}/{row.public_id}/replay",
        {"start": start.isoformat(), "end": end.isoformat()},
    )
    assert period.json() == {"replayed": 4}
    assert len(queued_deliveries()) == 4
    deliver_queued()
    assert len(receiver.received) == 9
    assert Delivery.objects.filter(replay=True, status="succeeded").count() == 5

    missing = api.post(f"{ENDPOINTS}/{row.public_id}/replay", {"event": "evt_nothing"})
    assert missing.status_code == 400
    assert "evt_nothing" in json.dumps(missing.json())
