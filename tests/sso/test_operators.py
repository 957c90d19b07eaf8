"""Operators see each company's single sign-on in the admin, never its secret, and can let a
locked-out company's members use their passwords again."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from portal.models import AuditEvent, Company, User
from sso.audit import SsoAction
from sso.models import SsoConfig
from tests import factories
from tests.conftest import sign_in
from tests.sso.conftest import member, set_up_sso, signed_in_as
from tests.sso.provider import OidcProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client: Client) -> Client:
    ops = User.objects.create_user(
        "ops@issuer.example", factories.PASSWORD, is_staff=True, is_superuser=True
    )
    sign_in(client, ops, second_factor=True)
    return client


def test_an_operator_sees_the_configuration_but_not_its_secret(
    operator_client: Client, provider: OidcProvider, acme: Company
) -> None:
    config = set_up_sso(acme, provider, ("acme.test",), required=True)

    listing = operator_client.get("/ops/sso/ssoconfig/")
    page = operator_client.get(f"/ops/sso/ssoconfig/{config.pk}/change/")

    assert listing.status_code == HTTPStatus.OK
    assert provider.issuer in listing.content.decode()
    assert page.status_code == HTTPStatus.OK
    assert "acme.test" in page.content.decode()
    assert provider.client_secret not in page.content.decode()
    assert "secret" not in page.content.decode().lower().replace("csrfmiddlewaretoken", "")


def test_an_operator_lets_a_locked_out_company_use_passwords_again(
    operator_client: Client, provider: OidcProvider, acme: Company
) -> None:
    config = set_up_sso(acme, provider, ("acme.test",), required=True)
    member(acme, "purchaser", "li.wei@acme.test")

    operator_client.post(
        "/ops/sso/ssoconfig/",
        {"action": "stop_requiring", "_selected_action": [str(config.pk)]},
    )

    assert not SsoConfig.objects.get(pk=config.pk).required
    event = AuditEvent.objects.filter(action=SsoAction.CONFIG_SAVED).latest("created_at")
    assert event.actor_label == "ops@issuer.example"
    assert event.company == acme
    member_browser = Client()
    member_browser.post("/login/", {"username": "li.wei@acme.test", "password": factories.PASSWORD})
    assert signed_in_as(member_browser) == "li.wei@acme.test"
