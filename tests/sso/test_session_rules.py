"""What single sign-on changes for a session: the company's second-factor policy, sessions
that go back to the provider, passwords refused where SSO is required, and one company's
provider never opening another company's door."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import Company
from sso.access import SSO_SESSION_KEY
from sso.models import SsoConfig
from sso.services import SsoConfigInput, sso_config_save
from tests import factories
from tests.sso.conftest import member, set_up_sso, signed_in_as, sso_sign_in, walk
from tests.sso.provider import OidcProvider

pytestmark = pytest.mark.django_db


def age_session(client: Client, minutes: int) -> None:
    """As if the SSO sign-in happened ``minutes`` ago."""
    session = client.session
    data = dict(session[SSO_SESSION_KEY])
    data["at"] -= minutes * 60
    session[SSO_SESSION_KEY] = data
    session.save()


# --- The second factor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "amr", "acr", "lands_on"),
    [
        (True, ["pwd", "mfa"], "", "/"),
        (True, ["pwd", "otp"], "", "/"),
        (True, ["hwk"], "", "/"),
        (True, ["pwd"], "urn:acme:loa:mfa", "/"),
        (True, ["pwd"], "", "/2fa/setup/"),
        (True, ["pwd"], "urn:acme:loa:password", "/2fa/setup/"),
        (False, ["pwd", "mfa"], "urn:acme:loa:mfa", "/2fa/setup/"),
    ],
)
def test_the_providers_second_factor_counts_only_when_the_owner_allowed_it(
    client: Client,
    provider: OidcProvider,
    acme: Company,
    allowed: bool,
    amr: list[str],
    acr: str,
    lands_on: str,
) -> None:
    set_up_sso(
        acme,
        provider,
        ("acme.test",),
        mfa_satisfies_2fa=allowed,
        mfa_acr_values="urn:acme:loa:mfa urn:acme:loa:hardware",
    )
    member(acme, "finance", "mei@acme.test")  # finance needs a second factor
    provider.person("mei@acme.test", amr=amr, acr=acr)
    provider.sign_in_as("mei@acme.test")

    response = sso_sign_in(client, "mei@acme.test")

    assert response.status_code == HTTPStatus.OK
    assert response.wsgi_request.path == lands_on
    assert signed_in_as(client) == "mei@acme.test"


def test_a_member_with_an_authenticator_enters_its_code_when_the_provider_gave_no_mfa(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    user = member(acme, "finance", "mei@acme.test")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    provider.sign_in_as("mei@acme.test")

    response = sso_sign_in(client, "mei@acme.test")

    assert response.wsgi_request.path == "/2fa/verify/"
    assert client.get("/").status_code == HTTPStatus.FOUND


def test_the_providers_second_factor_does_not_replace_the_authenticator(
    client: Client, provider: OidcProvider, acme: Company
) -> None:
    set_up_sso(acme, provider, ("acme.test",), mfa_satisfies_2fa=True)
    user = member(acme, "finance", "mei@acme.test")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    provider.person("mei@acme.test", amr=["mfa"])
    provider.sign_in_as("mei@acme.test")
    assert sso_sign_in(client, "mei@acme.test").wsgi_request.path == "/"

    response = client.get("/2fa/setup/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/2fa/verify/")


def test_the_providers_second_factor_does_not_remove_the_authenticator(
    client: Client, provider: OidcProvider, acme: Company
) -> None:
    set_up_sso(acme, provider, ("acme.test",), mfa_satisfies_2fa=True)
    user = member(acme, "purchaser", "mei@acme.test")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    provider.person("mei@acme.test", amr=["mfa"])
    provider.sign_in_as("mei@acme.test")
    assert sso_sign_in(client, "mei@acme.test").wsgi_request.path == "/"

    response = client.post("/2fa/disable/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/2fa/verify/")
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1


# --- Sessions go back to the provider ---------------------------------------------------------


def test_after_its_time_an_sso_session_goes_back_through_the_provider(
    client: Client, provider: OidcProvider, acme: Company
) -> None:
    set_up_sso(acme, provider, ("acme.test",), session_minutes=30)
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    sso_sign_in(client, "li.wei@acme.test")
    age_session(client, 29)
    assert client.get("/members/").status_code == HTTPStatus.OK
    asked = len(provider.authorize_requests)
    age_session(client, 2)

    response = walk(client, client.get("/members/"))

    assert len(provider.authorize_requests) == asked + 1
    assert response.status_code == HTTPStatus.OK
    assert response.wsgi_request.path == "/members/"
    assert signed_in_as(client) == "li.wei@acme.test"


def test_someone_the_provider_disabled_cannot_come_back(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    assert sso_sign_in(client, "li.wei@acme.test").status_code == HTTPStatus.OK
    provider.people["li.wei@acme.test"].disabled = True
    age_session(client, acme_sso.session_minutes + 1)

    response = walk(client, client.get("/"))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None
    again = sso_sign_in(client, "li.wei@acme.test")
    assert again.status_code == HTTPStatus.FORBIDDEN
    assert client.get("/")["Location"].startswith("/login/")


def test_turning_sso_off_ends_its_sessions(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    sso_sign_in(client, "li.wei@acme.test")
    SsoConfig.objects.filter(pk=acme_sso.pk).update(enabled=False)

    response = client.get("/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/login/")
    assert signed_in_as(client) is None


# --- Passwords where SSO is required ----------------------------------------------------------


def password_sign_in(client: Client, email: str) -> object:
    return client.post("/login/", {"username": email, "password": factories.PASSWORD})


def test_a_password_is_refused_where_the_company_requires_sso(
    client: Client, provider: OidcProvider, acme: Company
) -> None:
    set_up_sso(acme, provider, ("acme.test",), required=True)
    member(acme, "purchaser", "li.wei@acme.test")

    response = password_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.OK  # type: ignore[attr-defined]
    assert "Your company asks you to sign in through its identity provider" in (
        response.content.decode()  # type: ignore[attr-defined]
    )
    assert signed_in_as(client) is None


def test_a_password_still_works_where_sso_is_offered_but_not_required(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")

    password_sign_in(client, "li.wei@acme.test")

    assert signed_in_as(client) == "li.wei@acme.test"


def test_a_password_session_never_acts_for_a_company_that_requires_sso(
    client: Client, provider: OidcProvider, acme: Company
) -> None:
    set_up_sso(acme, provider, ("acme.test",), required=True)
    other = factories.company("Beta Supplies")
    member(acme, "purchaser", "li.wei@acme.test")
    member(other, "purchaser", "li.wei@acme.test")

    password_sign_in(client, "li.wei@acme.test")
    page = client.get("/")

    assert signed_in_as(client) == "li.wei@acme.test"
    assert page.wsgi_request.membership.company == other  # type: ignore[attr-defined]
    assert "Acme Trading" not in page.content.decode()
    switch = client.post(f"/companies/{acme.public_id}/switch/")
    assert switch.status_code == HTTPStatus.NOT_FOUND


def test_a_password_session_from_before_sso_became_required_loses_the_company(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    password_sign_in(client, "li.wei@acme.test")
    assert client.get("/").status_code == HTTPStatus.OK
    SsoConfig.objects.filter(pk=acme_sso.pk).update(required=True)

    response = client.get("/")

    assert response["Location"] == "/no-company/"


# --- One company's provider, one company --------------------------------------------------------


def test_each_address_goes_to_its_own_companys_provider(
    client: Client, provider: OidcProvider, other_provider: OidcProvider, acme: Company
) -> None:
    beta = factories.company("Beta Supplies")
    set_up_sso(acme, provider, ("acme.test",))
    set_up_sso(beta, other_provider, ("beta.test",))
    member(beta, "purchaser", "bo@beta.test")
    other_provider.sign_in_as("bo@beta.test")

    to_provider = client.post("/sso/", {"email": "bo@beta.test"})

    assert to_provider["Location"].startswith(f"{other_provider.issuer}/authorize?")
    assert walk(client, to_provider).status_code == HTTPStatus.OK
    assert signed_in_as(client) == "bo@beta.test"
    assert provider.authorize_requests == []


def test_a_provider_cannot_sign_in_another_companys_member(
    client: Client, provider: OidcProvider, other_provider: OidcProvider, acme: Company
) -> None:
    beta = factories.company("Beta Supplies")
    set_up_sso(acme, provider, ("acme.test",))
    set_up_sso(beta, other_provider, ("beta.test",))
    member(beta, "purchaser", "bo@beta.test")
    # Acme's provider claims, verified, an address of Beta's.
    provider.sign_in_as("bo@beta.test")

    response = sso_sign_in(client, "someone@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None


def test_an_sso_session_acts_only_for_the_company_whose_provider_signed_it_in(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    beta = factories.company("Beta Supplies")
    member(beta, "purchaser", "li.wei@acme.test")
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")

    page = sso_sign_in(client, "li.wei@acme.test")

    assert page.wsgi_request.membership.company == acme
    assert client.post(f"/companies/{beta.public_id}/switch/").status_code == 404
    assert client.get(f"/companies/{beta.public_id}/").status_code == 404


def test_a_domain_belongs_to_one_companys_sso(
    provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    beta = factories.company("Beta Supplies")
    owner = factories.member(beta, "owner")

    with pytest.raises(ValidationError, match=r"acme\.test is already covered"):
        sso_config_save(
            company=beta,
            data=SsoConfigInput(
                issuer=provider.issuer,
                client_id="beta",
                client_secret="s3cret",
                domains=("beta.test", "acme.test"),
            ),
            actor=owner,
            actor_signed_in_with_sso=True,
        )
    assert not SsoConfig.objects.filter(company=beta).exists()
