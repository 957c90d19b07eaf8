"""Helpers shared by all tests."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings

from portal.models import User


@pytest.fixture(autouse=True)
def own_api_rate_limits(settings: Settings) -> None:
    """Each test counts its own buyer API requests (portal/api/rate_limits.py): requests without
    a key, counted by address, would otherwise add up across the tests of a minute."""
    settings.API_RATE_LIMIT_NAMESPACE = f"api-limits-test-{uuid.uuid4().hex}"


@pytest.fixture
def english_and_fast_hashing(settings: Settings) -> Iterator[None]:
    """Messages in English; a fast password hasher (the real one costs a second per user)."""
    settings.LANGUAGE_CODE = "en"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with translation.override("en"):
        yield


def sign_in(client: Client, user: User, *, second_factor: bool) -> None:
    """Sign in; with ``second_factor`` the session has passed a TOTP check (as /2fa/verify/)."""
    client.force_login(user)
    if second_factor:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()


def outbox_queued(callbacks: list[Any], task: Any) -> list[tuple[Any, ...]]:
    """The arguments of each follow-up of ``task`` recorded in the outbox whose publish is among
    these captured on-commit callbacks (so it waits for the commit), in order."""
    from portal.models import OutboxMessage
    from portal.services.outbox import publish_after_commit

    ids = [
        cb.args[0]
        for cb in callbacks
        if isinstance(cb, functools.partial) and cb.func is publish_after_commit
    ]
    messages = OutboxMessage.objects.in_bulk(ids)
    return [
        tuple(messages[pk].args) for pk in ids if pk in messages and messages[pk].task == task.name
    ]
