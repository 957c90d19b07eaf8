"""Signing in through the company's identity provider: the real redirect flow against the
suite's provider, and each refusal a person would see."""

from __future__ import annotations

from http import HTTPStatus

import pytest
import requests
from django.test import Client
from joserfc.jwk import RSAKey

from portal.models import AuditEvent, Company, User
from sso.audit import SsoAction
from sso.models import SsoConfig, SsoIdentity
from tests.sso.conftest import member, signed_in_as, sso_sign_in, walk
from tests.sso.provider import OidcProvider

pytestmark = pytest.mark.django_db


def refusal_reason() -> str:
    event = AuditEvent.objects.filter(action=SsoAction.LOGIN_REFUSED).latest("created_at")
    return str(event.changes["reason"])


def test_a_member_signs_in_through_the_provider_and_lands_on_the_dashboard(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")

    response = sso_sign_in(client, "Li.Wei@acme.test")

    assert response.status_code == HTTPStatus.OK
    assert "Acme Trading" in response.content.decode()
    assert signed_in_as(client) == "li.wei@acme.test"
    # Authorization Code with PKCE (S256), state and nonce; the provider checked the verifier.
    sent = provider.authorize_requests[-1]
    assert sent["response_type"] == "code"
    assert sent["code_challenge_method"] == "S256"
    assert sent["state"]
    assert sent["nonce"]
    assert sent["login_hint"] == "li.wei@acme.test"
    assert "openid" in sent["scope"].split()
    assert provider.token_requests[-1]["code_verifier"]
    event = AuditEvent.objects.get(action=SsoAction.LOGIN)
    assert event.company == acme
    assert event.actor_label == "li.wei@acme.test"
    assert SsoIdentity.objects.filter(config=acme_sso, user__email="li.wei@acme.test").exists()


def test_the_next_page_asked_for_is_where_the_member_lands(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")

    response = sso_sign_in(client, "li.wei@acme.test", next_url="/members/")

    assert response.status_code == HTTPStatus.OK
    assert response.wsgi_request.path == "/members/"


def test_an_address_the_provider_has_not_verified_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.person("li.wei@acme.test", email_verified=False)
    provider.sign_in_as("li.wei@acme.test")

    response = sso_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "has not verified the address li.wei@acme.test" in response.content.decode()
    assert signed_in_as(client) is None
    assert refusal_reason() == "email_unverified"


def test_an_address_with_no_membership_gets_no_account(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    provider.sign_in_as("new.hire@acme.test")

    response = sso_sign_in(client, "new.hire@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert (
        "new.hire@acme.test is not a member of Acme Trading in this portal"
        in response.content.decode()
    )
    assert signed_in_as(client) is None
    assert refusal_reason() == "not_a_member"

    assert not User.objects.filter(email="new.hire@acme.test").exists()


def test_the_sign_in_page_offers_the_companys_sso_by_email(client: Client) -> None:
    page = client.get("/login/").content.decode()

    assert "Sign in with your company's SSO" in page
    assert 'action="/sso/"' in page
    assert 'name="email"' in page


def test_an_address_at_a_domain_without_sso_is_sent_back_to_the_password(
    client: Client, acme_sso: SsoConfig
) -> None:
    response = client.post("/sso/", {"email": "someone@elsewhere.test"})

    assert response.status_code == HTTPStatus.OK
    assert (
        "No company uses single sign-on for addresses at elsewhere.test"
        in response.content.decode()
    )


def test_an_answer_with_a_state_not_ours_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    to_provider = client.post("/sso/", {"email": "li.wei@acme.test"})
    back = requests.get(to_provider["Location"], allow_redirects=False, timeout=10)
    forged = back.headers["Location"].replace("state=", "state=forged")

    response = client.get(forged.removeprefix("http://testserver"))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "This sign-in was not started here" in response.content.decode()
    assert signed_in_as(client) is None
    assert refusal_reason() == "bad_state"


def test_an_answer_replayed_after_use_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    to_provider = client.post("/sso/", {"email": "li.wei@acme.test"})
    back = requests.get(to_provider["Location"], allow_redirects=False, timeout=10)
    callback = back.headers["Location"].removeprefix("http://testserver")
    assert walk(client, client.get(callback)).status_code == HTTPStatus.OK
    client.post("/logout/")

    response = client.get(callback)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None


def test_an_id_token_with_another_nonce_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    provider.wrong_nonce = True

    response = sso_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "could not be verified" in response.content.decode()
    assert signed_in_as(client) is None
    assert refusal_reason() == "invalid_claim_nonce"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-client"}, "invalid_claim_aud"),
        ({"aud": ["another-client", "portal"], "azp": "another-client"}, "invalid_claim_azp"),
        ({"iss": "https://impostor.example"}, "invalid_claim_iss"),
        ({"exp": 1_000_000_000}, "expired_token_exp"),
        ({"iat": 4_000_000_000}, "invalid_claim_iat"),
    ],
)
def test_an_id_token_for_someone_else_or_out_of_date_is_refused(
    client: Client,
    provider: OidcProvider,
    acme: Company,
    acme_sso: SsoConfig,
    claims: dict[str, object],
    reason: str,
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    provider.claim_overrides = claims

    response = sso_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None
    assert refusal_reason() == reason


@pytest.mark.parametrize("spoil", ["tampered signature", "signed with a key not in the JWKS"])
def test_an_id_token_whose_signature_does_not_verify_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig, spoil: str
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    if spoil == "tampered signature":
        provider.spoil_signature = True
    else:
        provider.foreign_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})

    response = sso_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "could not be verified" in response.content.decode()
    assert signed_in_as(client) is None
    assert refusal_reason() == "bad_signature"


def test_a_provider_that_refuses_the_person_signs_nobody_in(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.person("li.wei@acme.test", disabled=True)
    provider.sign_in_as("li.wei@acme.test")

    response = sso_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "did not sign you in" in response.content.decode()
    assert refusal_reason() == "provider_access_denied"


def test_the_same_address_as_another_subject_at_the_provider_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    provider.sign_in_as("li.wei@acme.test")
    assert sso_sign_in(client, "li.wei@acme.test").status_code == HTTPStatus.OK
    client.post("/logout/")
    # The provider gave the address to someone new.
    provider.person("li.wei@acme.test")

    response = sso_sign_in(client, "li.wei@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None
    assert refusal_reason() == "subject_changed"


def test_a_subject_already_another_members_is_refused(
    client: Client, provider: OidcProvider, acme: Company, acme_sso: SsoConfig
) -> None:
    member(acme, "purchaser", "li.wei@acme.test")
    member(acme, "purchaser", "wang.fang@acme.test")
    li = provider.sign_in_as("li.wei@acme.test")
    assert sso_sign_in(client, "li.wei@acme.test").status_code == HTTPStatus.OK
    client.post("/logout/")
    # The provider now says Li's account has Wang's address.
    provider.person("wang.fang@acme.test", subject=li.subject)
    provider.sign_in_as("wang.fang@acme.test")

    response = sso_sign_in(client, "wang.fang@acme.test")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None
    assert refusal_reason() == "subject_changed"
