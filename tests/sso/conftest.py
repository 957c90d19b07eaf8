"""The suite's OpenID Connect provider, a company set up for single sign-on with it, and the
walk a browser makes: the portal's redirect to the provider, the provider's back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from pytest_django.fixtures import Settings

from portal.models import Company, User
from sso.models import SsoConfig
from sso.services import SsoConfigInput, sso_config_save
from tests import factories
from tests.sso.provider import OidcProvider


@pytest.fixture(autouse=True)
def _english(english_and_fast_hashing: None, settings: Settings) -> None:
    settings.SSO_ALLOW_LOCAL_ISSUER = True


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


@pytest.fixture
def other_provider() -> Iterator[OidcProvider]:
    with OidcProvider(client_id="portal-b") as running:
        yield running


def set_up_sso(
    company: Company, provider: OidcProvider, domains: tuple[str, ...], **options: object
) -> SsoConfig:
    owner = factories.member(company, "owner")
    return sso_config_save(
        company=company,
        data=SsoConfigInput(
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            domains=domains,
            **options,  # type: ignore[arg-type]
        ),
        actor=owner,
        actor_signed_in_with_sso=True,
    )


@pytest.fixture
def acme() -> Company:
    return factories.company("Acme Trading")


@pytest.fixture
def acme_sso(acme: Company, provider: OidcProvider) -> SsoConfig:
    return set_up_sso(acme, provider, ("acme.test",))


def member(company: Company, role: str, email: str) -> User:
    return factories.member(company, role, email=email)


def walk(client: Client, response: Any, limit: int = 10) -> Any:
    """Follow Location headers as a browser would: to the provider (over HTTP, on its port)
    and back to the portal (through the test client)."""
    for _ in range(limit):
        if response.status_code not in (301, 302, 303):
            return response
        location = urlsplit(response["Location"])
        if location.netloc.startswith("127.0.0.1"):
            answer = requests.get(response["Location"], allow_redirects=False, timeout=10)
            assert answer.status_code == 302, answer.text
            back = urlsplit(answer.headers["Location"])
            assert back.netloc == "testserver"
            response = client.get(f"{back.path}?{back.query}")
        else:
            path = location.path + (f"?{location.query}" if location.query else "")
            response = client.get(path)
    raise AssertionError("too many redirects")


def sso_sign_in(client: Client, email: str, next_url: str = "") -> Any:
    """Type the address into "Sign in with your company's SSO" and follow the redirects."""
    data = {"email": email}
    if next_url:
        data["next"] = next_url
    return walk(client, client.post("/sso/", data))


def signed_in_as(client: Client) -> str | None:
    """Whose session the browser holds, or None."""
    user_id = client.session.get("_auth_user_id")
    user = User.objects.filter(pk=user_id).first() if user_id else None
    return user.email if user is not None else None
