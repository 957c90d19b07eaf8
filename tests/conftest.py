"""Helpers shared by all tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import translation
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings

from portal.models import User


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
