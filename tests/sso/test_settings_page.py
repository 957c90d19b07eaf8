"""The owner's single sign-on settings: set up, change, remove; the secret stays secret."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from portal.models import AuditEvent, Company
from sso import oidc
from sso.audit import SsoAction
from sso.models import SsoConfig
from sso.services import client_secret
from tests import factories
from tests.conftest import sign_in
from tests.sso.conftest import set_up_sso, sso_sign_in
from tests.sso.provider import OidcProvider

pytestmark = pytest.mark.django_db


def form(provider: OidcProvider, **overrides: str) -> dict[str, str]:
    data = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "domains": "acme.test\n@Acme-Group.test",
        "enabled": "on",
        "required": "",
        "session_minutes": "45",
        "mfa_acr_values": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def owner_client(client: Client, acme: Company) -> Client:
    sign_in(client, factories.member(acme, "owner"), second_factor=True)
    return client


def test_an_owner_sets_up_sso_and_the_secret_is_never_shown_again(
    owner_client: Client, provider: OidcProvider, acme: Company
) -> None:
    page = owner_client.get("/sso/settings/")
    assert page.status_code == HTTPStatus.OK
    assert 'data-nav="sso"' in page.content.decode()
    assert "http://testserver/sso/callback/" in page.content.decode()

    response = owner_client.post("/sso/settings/", form(provider), follow=True)

    assert "Single sign-on settings saved." in response.content.decode()
    assert provider.client_secret not in response.content.decode()
    config = SsoConfig.objects.get(company=acme)
    assert config.enabled
    assert not config.required
    assert config.session_minutes == 45
    assert sorted(config.domains.values_list("domain", flat=True)) == [
        "acme-group.test",
        "acme.test",
    ]
    assert client_secret(config) == provider.client_secret
    assert provider.client_secret.encode() not in bytes(config.secret_ciphertext)
    event = AuditEvent.objects.get(action=SsoAction.CONFIG_SAVED)
    assert event.company == acme
    assert event.changes["issuer"] == ["", provider.issuer]
    assert provider.client_secret not in json.dumps(event.changes)


def test_saving_again_without_a_secret_keeps_it_and_audits_only_what_changed(
    owner_client: Client, provider: OidcProvider, acme: Company
) -> None:
    owner_client.post("/sso/settings/", form(provider))

    owner_client.post(
        "/sso/settings/",
        form(provider, client_secret="", session_minutes="90", mfa_satisfies_2fa="on"),
    )

    config = SsoConfig.objects.get(company=acme)
    assert client_secret(config) == provider.client_secret
    assert config.session_minutes == 90
    assert config.mfa_satisfies_2fa
    latest = AuditEvent.objects.filter(action=SsoAction.CONFIG_SAVED).latest("created_at")
    assert latest.changes == {
        "mfa_satisfies_2fa": ["False", "True"],
        "session_minutes": ["45", "90"],
    }


def test_the_stored_secret_is_never_sent_to_another_provider(
    owner_client: Client, provider: OidcProvider, other_provider: OidcProvider, acme: Company
) -> None:
    owner_client.post("/sso/settings/", form(provider))

    refused = owner_client.post("/sso/settings/", form(other_provider, client_secret=""))

    assert "Enter the client secret of the new identity provider" in refused.content.decode()
    config = SsoConfig.objects.get(company=acme)
    assert (config.issuer, config.client_id) == (provider.issuer, provider.client_id)
    assert client_secret(config) == provider.client_secret


def test_requiring_sso_takes_an_owner_who_signed_in_with_it(
    client: Client, provider: OidcProvider, acme: Company
) -> None:
    owner = factories.member(acme, "owner", email="boss@acme.test")
    sign_in(client, owner, second_factor=True)
    client.post("/sso/settings/", form(provider))

    refused = client.post("/sso/settings/", form(provider, client_secret="", required="on"))

    assert "Sign in with single sign-on yourself before you require it" in (
        refused.content.decode()
    )
    assert not SsoConfig.objects.get(company=acme).required
    client.post("/logout/")
    provider.person("boss@acme.test", amr=["pwd", "otp"])
    provider.sign_in_as("boss@acme.test")
    SsoConfig.objects.filter(company=acme).update(mfa_satisfies_2fa=True)
    assert sso_sign_in(client, "boss@acme.test").status_code == HTTPStatus.OK

    client.post("/sso/settings/", form(provider, client_secret="", required="on"))

    assert SsoConfig.objects.get(company=acme).required
    assert client.get("/sso/settings/").status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("issuer", "{issuer}/nowhere", "gave no usable OpenID Connect discovery document"),
        ("domains", "acme.test not_a_domain", "“not_a_domain” is not an email domain"),
        ("client_secret", "", "Enter the client secret"),
        ("session_minutes", "1", "greater than or equal to 5"),
    ],
)
def test_a_wrong_setting_is_named_and_nothing_is_saved(
    owner_client: Client,
    provider: OidcProvider,
    acme: Company,
    field: str,
    value: str,
    message: str,
) -> None:
    response = owner_client.post(
        "/sso/settings/", form(provider, **{field: value.format(issuer=provider.issuer)})
    )

    assert response.status_code == HTTPStatus.OK
    assert message in response.content.decode()
    assert not SsoConfig.objects.filter(company=acme).exists()


def test_only_owners_set_up_sso(client: Client, acme: Company, provider: OidcProvider) -> None:
    sign_in(client, factories.member(acme, "finance"), second_factor=True)

    response = client.post("/sso/settings/", form(provider))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Only owners can set up single sign-on." in response.content.decode()
    assert 'data-nav="sso"' not in client.get("/").content.decode()
    assert not SsoConfig.objects.exists()


def test_an_owner_removes_sso(owner_client: Client, provider: OidcProvider, acme: Company) -> None:
    set_up_sso(acme, provider, ("acme.test",))

    response = owner_client.post("/sso/settings/remove/")

    assert response.status_code == HTTPStatus.FOUND
    assert not SsoConfig.objects.filter(company=acme).exists()
    assert AuditEvent.objects.filter(action=SsoAction.CONFIG_REMOVED, company=acme).exists()


def test_in_production_only_https_to_public_addresses_is_fetched(settings: Settings) -> None:
    settings.SSO_ALLOW_LOCAL_ISSUER = False

    for url, reason in [
        ("http://login.example.com/", "not_https"),
        ("https://127.0.0.1:8443/", "not_public"),
        ("https://10.1.2.3/", "not_public"),
        ("https://[::1]/", "not_public"),
        ("https://user:pw@login.example.com/", "bad_url"),
    ]:
        with pytest.raises(oidc.OidcError) as caught:
            oidc.check_fetchable(url)
        assert caught.value.reason == reason, url
