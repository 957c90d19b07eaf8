"""Settings → Webhooks in the portal: an owner adds an endpoint and sees its secret once, sees
its health and attempts, rotates the secret, replays a period; other roles get a 403, another
company's endpoint is a 404; the operators' admin shows every endpoint's health read-only."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent, Company, Role, User
from tests import factories
from tests.conftest import sign_in
from tests.webhooks.receiver import Receiver
from webhooks.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

LIST = reverse("webhooks:endpoint_list")


def _client(user: User) -> Client:
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


def test_an_owner_adds_an_endpoint_and_sees_its_secret_once(
    owner: User, receiver: Receiver
) -> None:
    client = _client(owner)
    page = client.post(
        LIST,
        {
            "url": receiver.url,
            "description": "ERP",
            "event_types": ["order.submitted", "invoice.paid"],
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    secret = re.search(r'id="new-webhook-secret">(whsec_[^<]+)<', html)
    assert secret is not None
    assert "no-store" in page["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["order.submitted", "invoice.paid"]
    assert AuditEvent.objects.filter(action="webhook_endpoint.created").exists()
    again = client.get(LIST).content.decode()
    assert secret.group(1) not in again
    assert receiver.url in again
    assert (
        secret.group(1)
        not in client.get(
            reverse("webhooks:endpoint_detail", args=[endpoint.public_id])
        ).content.decode()
    )


def test_a_private_url_is_refused_with_the_setting_off(owner: User, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    page = _client(owner).post(
        LIST, {"url": "https://10.0.0.8/hooks", "event_types": ["order.submitted"]}
    )
    assert "public address" in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_detail_shows_health_and_attempts_and_rotation_shows_the_new_secret(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: Receiver,
    deliver_queued: Callable[[], list[Any]],
) -> None:
    row, _secret = endpoint
    factories.submitted(company, owner)
    deliver_queued()
    client = _client(owner)
    detail = client.get(reverse("webhooks:endpoint_detail", args=[row.public_id])).content.decode()
    assert "Delivered" in detail
    assert "200" in detail
    rotated = client.post(reverse("webhooks:endpoint_rotate", args=[row.public_id]))
    assert 'id="new-webhook-secret">whsec_' in rotated.content.decode()


def test_an_owner_replays_a_period(
    company: Company,
    owner: User,
    endpoint: tuple[WebhookEndpoint, str],
    deliver_queued: Callable[[], list[Any]],
) -> None:
    row, _secret = endpoint
    factories.submitted(company, owner)
    deliver_queued()
    start = timezone.localtime(timezone.now() - datetime.timedelta(hours=1))
    end = timezone.localtime(timezone.now() + datetime.timedelta(hours=1))
    response = _client(owner).post(
        reverse("webhooks:endpoint_replay", args=[row.public_id]),
        {"start": start.strftime("%Y-%m-%dT%H:%M"), "end": end.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    assert Delivery.objects.filter(replay=True).count() == 2


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PURCHASER, Role.VIEWER])
def test_other_roles_are_refused(company: Company, role: str) -> None:
    assert _client(factories.member(company, role)).get(LIST).status_code == 403


def test_another_companys_endpoint_is_a_404(endpoint: tuple[WebhookEndpoint, str]) -> None:
    other = factories.company()
    row, _secret = endpoint
    response = _client(factories.member(other, Role.OWNER)).get(
        reverse("webhooks:endpoint_detail", args=[row.public_id])
    )
    assert response.status_code == 404


def test_operators_see_every_endpoints_health_read_only(
    endpoint: tuple[WebhookEndpoint, str],
) -> None:
    ops = factories.operator("webhook-ops@issuer.example")
    ops.is_superuser = True
    ops.save(update_fields=["is_superuser"])
    admin_client = _client(ops)
    row, secret = endpoint
    listing = admin_client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    assert listing.status_code == 200
    assert row.url in listing.content.decode()
    change = admin_client.get(
        reverse("admin:webhooks_webhookendpoint_change", args=[row.pk])
    ).content.decode()
    assert secret not in change
    assert 'name="url"' not in change  # read-only
    add = admin_client.get(reverse("admin:webhooks_webhookendpoint_add"))
    assert add.status_code == 403
