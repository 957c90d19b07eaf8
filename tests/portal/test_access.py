"""Who may reach which company's data: another company's objects are simply not there (404)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from portal.access import ACTIVE_COMPANY_SESSION_KEY
from portal.models import AuditEvent, Company, Invitation, Membership, Role, User
from portal.services.companies import company_create
from portal.services.memberships import invitation_create, membership_remove
from portal.validators import credit_code_check_character
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CODE_A = "91350100M000100Y43"
CODE_B = "91110000100000000R"
CODE_C = "91440300MA5EXAMPL" + credit_code_check_character("91440300MA5EXAMPL")


def dashboard_title(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    marker = 'data-testid="dashboard-title">'
    start = response.text.index(marker) + len(marker)
    return response.text[start : response.text.index("</h1>", start)]


def page_shape(response: object, requested_id: object) -> str:
    """The page without what differs on every request (CSP nonce, CSRF token, the id asked for,
    which the language switcher echoes back)."""
    text: str = response.text  # type: ignore[attr-defined]
    text = text.replace(str(requested_id), "<id>")
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', text)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)


@dataclass
class OtherCompany:
    company: Company
    owner: Membership
    purchaser: Membership
    invitation: Invitation
    event: AuditEvent


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice@a.example", "Correct-Horse-42")


@pytest.fixture
def company_a(alice: User) -> Company:
    return company_create(legal_name="Alpha Trading Co., Ltd.", credit_code=CODE_A, owner=alice)


@pytest.fixture
def other() -> OtherCompany:
    """Company B, with an owner, a purchaser, an open invitation and an audit trail."""
    bob = User.objects.create_user("bob@b.example", "Correct-Horse-42")
    company = company_create(legal_name="Beta Supplies Co., Ltd.", credit_code=CODE_B, owner=bob)
    carol = User.objects.create_user("carol@b.example", "Correct-Horse-42")
    purchaser = Membership.objects.create(user=carol, company=company, role=Role.PURCHASER)
    invitation = invitation_create(
        company=company, email="dave@b.example", role=Role.VIEWER, invited_by=bob
    )
    event = AuditEvent.objects.filter(company=company).order_by("pk").first()
    assert event is not None
    return OtherCompany(
        company=company,
        owner=Membership.objects.get(user=bob, company=company),
        purchaser=purchaser,
        invitation=invitation,
        event=event,
    )


def snapshot_of(company: Company) -> tuple[object, ...]:
    """Everything about a company that a stray request could change."""
    company.refresh_from_db()
    return (
        company.legal_name,
        company.status,
        sorted(
            (str(m.public_id), m.user_id, m.role)
            for m in Membership.objects.filter(company=company)
        ),
        sorted(
            (str(i.public_id), i.accepted_at, i.revoked_at)
            for i in Invitation.objects.filter(company=company)
        ),
        AuditEvent.objects.count(),
    )


Request = Callable[[Client, OtherCompany], object]

CROSS_COMPANY_REQUESTS: dict[str, Request] = {
    "member detail": lambda c, b: c.get(f"/members/{b.purchaser.public_id}/"),
    "owner's member detail": lambda c, b: c.get(f"/members/{b.owner.public_id}/"),
    "role change": lambda c, b: c.post(
        f"/members/{b.purchaser.public_id}/role/", {"role": "owner"}
    ),
    "demote their owner": lambda c, b: c.post(
        f"/members/{b.owner.public_id}/role/", {"role": "viewer"}
    ),
    "remove member": lambda c, b: c.post(f"/members/{b.purchaser.public_id}/remove/"),
    "revoke invitation": lambda c, b: c.post(f"/invitations/{b.invitation.public_id}/revoke/"),
    "company page": lambda c, b: c.get(f"/companies/{b.company.public_id}/"),
    "switch company": lambda c, b: c.post(f"/companies/{b.company.public_id}/switch/"),
    "audit event": lambda c, b: c.get(f"/audit/{b.event.public_id}/"),
}


@pytest.mark.parametrize("attempt", CROSS_COMPANY_REQUESTS.values(), ids=CROSS_COMPANY_REQUESTS)
def test_an_owner_of_one_company_finds_nothing_of_another_company(
    client: Client, alice: User, company_a: Company, other: OtherCompany, attempt: Request
) -> None:
    # Given Alice, owner of company A with a verified session, and company B she is not part of
    sign_in(client, alice, second_factor=True)
    before = snapshot_of(other.company)

    # When she requests one of B's objects by its id
    response = attempt(client, other)

    # Then it does not exist for her (404, never 403), and nothing about B changed
    assert response.status_code == 404  # type: ignore[attr-defined]
    assert snapshot_of(other.company) == before
    # And she still acts for her own company
    assert client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_a.public_id)


@pytest.mark.parametrize(
    "path",
    [
        "/members/{id}/",
        "/companies/{id}/",
        "/audit/{id}/",
    ],
)
def test_another_companys_id_answers_exactly_like_an_id_that_does_not_exist(
    client: Client, alice: User, company_a: Company, other: OtherCompany, path: str
) -> None:
    sign_in(client, alice, second_factor=True)
    real_ids = {
        "/members/{id}/": other.purchaser.public_id,
        "/companies/{id}/": other.company.public_id,
        "/audit/{id}/": other.event.public_id,
    }

    made_up_id = uuid.uuid4()
    foreign = client.get(path.format(id=real_ids[path]))
    made_up = client.get(path.format(id=made_up_id))

    assert foreign.status_code == made_up.status_code == 404
    assert page_shape(foreign, real_ids[path]) == page_shape(made_up, made_up_id)


@pytest.mark.parametrize("action", ["role", "remove"])
def test_a_non_owner_gets_the_same_refusal_for_another_companys_member_as_for_a_made_up_one(
    client: Client, company_a: Company, other: OtherCompany, action: str
) -> None:
    # A purchaser is refused the owner-only action before any lookup, so the answer says
    # nothing about whether the id exists anywhere.
    erin = User.objects.create_user("erin@a.example", "Correct-Horse-42")
    Membership.objects.create(user=erin, company=company_a, role=Role.PURCHASER)
    sign_in(client, erin, second_factor=False)
    before = snapshot_of(other.company)

    made_up_id = uuid.uuid4()
    foreign = client.post(f"/members/{other.purchaser.public_id}/{action}/", {"role": "owner"})
    made_up = client.post(f"/members/{made_up_id}/{action}/", {"role": "owner"})

    assert foreign.status_code == made_up.status_code == 403
    assert page_shape(foreign, other.purchaser.public_id) == page_shape(made_up, made_up_id)
    assert snapshot_of(other.company) == before


def test_the_member_list_shows_only_the_active_companys_people(
    client: Client, alice: User, company_a: Company, other: OtherCompany
) -> None:
    sign_in(client, alice, second_factor=True)

    response = client.get("/members/")

    assert response.status_code == 200
    assert "alice@a.example" in response.text
    for outsider in ("bob@b.example", "carol@b.example", "dave@b.example"):
        assert outsider not in response.text
    assert str(other.purchaser.public_id) not in response.text


# --- Acting for several companies ---------------------------------------------------------------


@pytest.fixture
def frank(company_a: Company, other: OtherCompany) -> User:
    """A purchaser in both A (joined first) and B: no second factor needed."""
    user = User.objects.create_user("frank@example.com", "Correct-Horse-42")
    Membership.objects.create(user=user, company=company_a, role=Role.PURCHASER)
    Membership.objects.create(user=user, company=other.company, role=Role.VIEWER)
    return user


def test_a_member_of_two_companies_starts_in_the_first_they_joined(
    client: Client, frank: User
) -> None:
    sign_in(client, frank, second_factor=False)

    assert dashboard_title(client) == "Alpha Trading Co., Ltd."


def test_a_member_of_two_companies_switches_and_the_dashboard_follows(
    client: Client, frank: User, other: OtherCompany
) -> None:
    sign_in(client, frank, second_factor=False)

    response = client.post(f"/companies/{other.company.public_id}/switch/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "You are now acting for Beta Supplies Co., Ltd." in client.get("/").text
    assert dashboard_title(client) == "Beta Supplies Co., Ltd."
    event = AuditEvent.objects.get(action="company.switched")
    assert event.actor == frank
    assert event.company == other.company
    # And the member list is now B's
    members = client.get("/members/").text
    assert "carol@b.example" in members
    assert "alice@a.example" not in members


def test_switching_only_works_with_post(client: Client, frank: User, other: OtherCompany) -> None:
    sign_in(client, frank, second_factor=False)

    response = client.get(f"/companies/{other.company.public_id}/switch/")

    assert response.status_code == 405
    assert dashboard_title(client) == "Alpha Trading Co., Ltd."


def test_a_member_sees_each_of_their_companies_pages(
    client: Client, frank: User, company_a: Company, other: OtherCompany
) -> None:
    sign_in(client, frank, second_factor=False)

    for company in (company_a, other.company):
        response = client.get(f"/companies/{company.public_id}/")
        assert response.status_code == 200
        assert company.legal_name in response.text


def test_after_removal_from_the_chosen_company_the_session_falls_back_to_one_still_held(
    client: Client, frank: User, company_a: Company, other: OtherCompany
) -> None:
    # Given Frank acting for company B
    sign_in(client, frank, second_factor=False)
    client.post(f"/companies/{other.company.public_id}/switch/")
    assert dashboard_title(client) == "Beta Supplies Co., Ltd."

    # When B's owner removes him
    membership_remove(
        membership=Membership.objects.get(user=frank, company=other.company),
        actor=other.owner.user,
    )

    # Then his next page is company A's, and B's data is out of reach
    assert dashboard_title(client) == "Alpha Trading Co., Ltd."
    assert client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_a.public_id)
    assert client.get(f"/members/{other.purchaser.public_id}/").status_code == 404
    assert client.get(f"/companies/{other.company.public_id}/").status_code == 404
    assert client.post(f"/companies/{other.company.public_id}/switch/").status_code == 404


def test_a_session_pointing_at_a_company_never_joined_falls_back_to_the_users_own(
    client: Client, frank: User, company_a: Company
) -> None:
    stranger_company = company_create(
        legal_name="Gamma Holdings Co., Ltd.",
        credit_code=CODE_C,
        owner=User.objects.create_user("gina@c.example", "Correct-Horse-42"),
    )
    sign_in(client, frank, second_factor=False)
    session = client.session
    session[ACTIVE_COMPANY_SESSION_KEY] = str(stranger_company.public_id)
    session.save()

    assert dashboard_title(client) == "Alpha Trading Co., Ltd."
    assert client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_a.public_id)


def test_removed_from_their_only_company_a_person_is_sent_to_the_no_company_page(
    client: Client, company_a: Company, alice: User
) -> None:
    grace = User.objects.create_user("grace@a.example", "Correct-Horse-42")
    membership = Membership.objects.create(user=grace, company=company_a, role=Role.VIEWER)
    sign_in(client, grace, second_factor=False)
    assert dashboard_title(client) == "Alpha Trading Co., Ltd."

    membership_remove(membership=membership, actor=alice)

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/no-company/"


# --- Without a company, without an account -------------------------------------------------------


def test_a_signed_in_person_without_a_company_is_sent_to_the_no_company_page(
    client: Client,
) -> None:
    loner = User.objects.create_user("loner@example.com", "Correct-Horse-42")
    sign_in(client, loner, second_factor=False)

    for path in ("/", "/members/", "/audit/", f"/members/{uuid.uuid4()}/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == "/no-company/", path

    page = client.get("/no-company/")
    assert page.status_code == 200


def test_the_no_company_page_sends_a_member_to_their_dashboard(client: Client, frank: User) -> None:
    sign_in(client, frank, second_factor=False)

    response = client.get("/no-company/")

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/members/"),
        ("get", "/audit/"),
        ("get", "/no-company/"),
        ("get", "/members/{member}/"),
        ("get", "/companies/{company}/"),
        ("get", "/audit/{event}/"),
        ("post", "/members/{member}/role/"),
        ("post", "/members/{member}/remove/"),
        ("post", "/invitations/{invitation}/revoke/"),
        ("post", "/companies/{company}/switch/"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: Client, other: OtherCompany, method: str, path: str
) -> None:
    url = path.format(
        member=other.purchaser.public_id,
        company=other.company.public_id,
        event=other.event.public_id,
        invitation=other.invitation.public_id,
    )
    before = snapshot_of(other.company)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert snapshot_of(other.company) == before
