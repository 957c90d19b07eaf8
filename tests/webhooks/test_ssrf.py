"""Against server-side request forgery: with WEBHOOKS_ALLOW_PRIVATE_TARGETS off (production),
only public HTTPS addresses are delivered to, checked after DNS resolution at send time, and the
connection goes to the address that was checked."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from pytest_django.fixtures import Settings

from portal.models import Company, User
from tests import factories
from tests.webhooks.conftest import queued_deliveries
from tests.webhooks.receiver import Receiver
from webhooks import transport
from webhooks.models import DeliveryAttempt, WebhookEndpoint
from webhooks.services.delivery import delivery_attempt
from webhooks.services.endpoints import endpoint_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "ff02::1",
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert not transport.address_is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert transport.address_is_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://[::1]/in",
        "https://10.0.0.8/in",
        "https://localhost/in",
        "https://user:pw@hooks.example.com/in",
    ],
)
def test_registration_refuses_what_can_be_told_without_dns(
    company: Company, owner: User, settings: Settings, url: str
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(ValidationError) as refused:
        endpoint_create(company=company, actor=owner, url=url, event_types=["order.submitted"])
    assert "url" in refused.value.message_dict


def _resolving_to(address: str) -> Callable[..., Any]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return fake


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.8", "169.254.169.254", "::1"])
def test_a_name_that_resolves_to_a_private_address_is_refused_at_send_time(
    company: Company,
    owner: User,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    address: str,
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    endpoint_create(
        company=company,
        actor=owner,
        url="https://hooks.example.com/in",
        event_types=["order.submitted"],
    )
    # The name was public when registered; now its DNS answers a private address (rebinding).
    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to(address))
    connected: list[Any] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    factories.submitted(company, owner)

    result = delivery_attempt(delivery_id=queued_deliveries()[0])

    assert result.state == "retry"
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == DeliveryAttempt.Outcome.REFUSED
    assert address in attempt.error
    assert connected == [], "no connection is opened to a refused address"


def test_the_suites_local_receiver_is_refused_with_the_setting_off(
    company: Company,
    owner: User,
    receiver: Receiver,
    settings: Settings,
) -> None:
    _endpoint, _secret = endpoint_create(
        company=company, actor=owner, url=receiver.url, event_types=["order.submitted"]
    )
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    factories.submitted(company, owner)

    delivery_attempt(delivery_id=queued_deliveries()[0])

    assert receiver.received == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == DeliveryAttempt.Outcome.REFUSED
    assert WebhookEndpoint.objects.get().consecutive_failures == 1


def test_the_connection_goes_to_the_checked_address_with_the_url_host_name(
    company: Company,
    owner: User,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The URL names a host that resolves (once) to the receiver's address; the request carries
    the URL's host name."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    calls: list[str] = []
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            calls.append(host)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    _endpoint, secret = endpoint_create(
        company=company,
        actor=owner,
        url=f"http://hooks.example.test:{port}/hooks",
        event_types=["order.submitted"],
    )
    receiver.secret = secret
    factories.submitted(company, owner)
    assert delivery_attempt(delivery_id=queued_deliveries()[0]).state == "succeeded"
    assert calls == ["hooks.example.test"]
    assert receiver.received[0].headers["host"] == f"hooks.example.test:{port}"
    assert receiver.received[0].payload is not None
