"""Invitations, joining a company, and owners changing or removing members."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from html import escape

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.models import AuditEvent, Company, Invitation, Membership, Role, User
from portal.services.companies import company_create
from portal.services.memberships import (
    InvitationInvalid,
    LastOwner,
    invitation_accept,
    invitation_create,
    invitation_from_token,
    invitation_revoke,
    invitation_token,
    membership_change_role,
    membership_remove,
)
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CODE_A = "91350100M000100Y43"
STRONG_PASSWORD = "Quiet-Lantern-Harbour-71"
NEWCOMER = "newcomer@a.example"


def page_text(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.text


@pytest.fixture
def owner() -> User:
    return User.objects.create_user("owner@a.example", "Correct-Horse-42")


@pytest.fixture
def company(owner: User) -> Company:
    return company_create(legal_name="Alpha Trading Co., Ltd.", credit_code=CODE_A, owner=owner)


@pytest.fixture
def owner_membership(owner: User, company: Company) -> Membership:
    return Membership.objects.get(user=owner, company=company)


@pytest.fixture
def purchaser(company: Company) -> Membership:
    user = User.objects.create_user("buyer@a.example", "Correct-Horse-42")
    return Membership.objects.create(user=user, company=company, role=Role.PURCHASER)


@pytest.fixture
def invitation(company: Company, owner: User) -> Invitation:
    return invitation_create(company=company, email=NEWCOMER, role=Role.PURCHASER, invited_by=owner)


@pytest.fixture
def owner_client(client: Client, owner: User, company: Company) -> Client:
    sign_in(client, owner, second_factor=True)
    return client


def _nothing_changed_since(snapshot: tuple[int, int, int, int]) -> bool:
    return snapshot == _counts()


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Membership.objects.count(),
        Invitation.objects.count(),
        AuditEvent.objects.count(),
    )


# --- Sending an invitation -----------------------------------------------------------------------


def test_an_owner_invites_a_colleague_and_the_email_is_queued_for_after_commit(
    company: Company,
    owner: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # When the owner invites an address (typed in capitals)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = invitation_create(
            company=company, email="NewComer@A.Example", role=Role.FINANCE, invited_by=owner
        )

    # Then one open invitation exists for the normalised address, valid for 7 days
    stored = Invitation.objects.get(pk=created.pk)
    assert stored.company == company
    assert stored.email == NEWCOMER
    assert stored.role == Role.FINANCE
    assert stored.invited_by == owner
    assert stored.is_open
    assert timedelta(days=6, hours=23) < stored.expires_at - timezone.now() <= timedelta(days=7)
    # And the email goes out only once the transaction commits (one queued send, not run here)
    assert len(callbacks) == 1
    assert stored.email_sent_at is None
    # And the act is in the audit trail
    event = AuditEvent.objects.get(action="membership.invited")
    assert event.company == company
    assert event.actor == owner
    assert event.changes == {"email": NEWCOMER, "role": "finance"}


def test_inviting_someone_who_is_already_a_member_is_refused(
    company: Company, owner: User, purchaser: Membership
) -> None:
    snapshot = _counts()

    with pytest.raises(ValidationError) as excinfo:
        invitation_create(
            company=company, email="BUYER@a.example", role=Role.VIEWER, invited_by=owner
        )

    assert excinfo.value.message_dict == {"email": ["buyer@a.example is already a member."]}
    assert _nothing_changed_since(snapshot)


def test_a_second_open_invitation_for_the_same_address_is_refused(
    company: Company, owner: User, invitation: Invitation
) -> None:
    snapshot = _counts()

    with pytest.raises(ValidationError) as excinfo:
        invitation_create(company=company, email=NEWCOMER, role=Role.VIEWER, invited_by=owner)

    assert excinfo.value.message_dict == {
        "email": [f"{NEWCOMER} already has an open invitation. Revoke it first to send a new one."]
    }
    assert _nothing_changed_since(snapshot)
    assert Invitation.objects.get().role == Role.PURCHASER


def test_an_unknown_role_is_refused(company: Company, owner: User) -> None:
    snapshot = _counts()

    with pytest.raises(ValidationError) as excinfo:
        invitation_create(company=company, email=NEWCOMER, role="admin", invited_by=owner)

    assert excinfo.value.message_dict == {"role": ["Choose one of the listed roles."]}
    assert _nothing_changed_since(snapshot)


def test_an_expired_invitation_makes_way_for_a_new_one(
    company: Company, owner: User, invitation: Invitation
) -> None:
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    fresh = invitation_create(company=company, email=NEWCOMER, role=Role.VIEWER, invited_by=owner)

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert fresh.is_open
    assert fresh.role == Role.VIEWER


def test_after_revoking_an_invitation_the_address_can_be_invited_again(
    company: Company, owner: User, invitation: Invitation
) -> None:
    invitation_revoke(invitation=invitation, actor=owner)

    fresh = invitation_create(company=company, email=NEWCOMER, role=Role.VIEWER, invited_by=owner)

    assert fresh.is_open
    assert AuditEvent.objects.filter(action="membership.invitation_revoked").count() == 1


def test_an_owner_invites_through_the_members_page(
    owner_client: Client,
    company: Company,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post("/members/", {"email": NEWCOMER, "role": "viewer"})

    assert response.status_code == 302
    assert response["Location"] == "/members/"
    assert len(callbacks) == 1
    assert Invitation.objects.get(company=company).email == NEWCOMER
    listing = page_text(owner_client, "/members/")
    assert f"Invitation sent to {NEWCOMER}." in listing


def test_a_non_owner_may_not_invite_and_is_told_why(client: Client, purchaser: Membership) -> None:
    sign_in(client, purchaser.user, second_factor=False)
    snapshot = _counts()

    response = client.post("/members/", {"email": NEWCOMER, "role": "viewer"})

    assert response.status_code == 403
    # The refusal says why, once (issue 12, defect 3: no generic sentence repeated after it).
    assert "Only owners can invite members or change roles." in response.text
    assert "does not allow this" not in response.text
    assert _nothing_changed_since(snapshot)


def test_the_members_page_shows_why_an_invitation_was_refused(
    owner_client: Client, purchaser: Membership
) -> None:
    snapshot = _counts()

    response = owner_client.post("/members/", {"email": "buyer@a.example", "role": "viewer"})

    assert response.status_code == 200
    assert "buyer@a.example is already a member." in response.text
    assert _nothing_changed_since(snapshot)


# --- Opening an invitation link ------------------------------------------------------------------


def test_a_valid_token_finds_its_invitation(invitation: Invitation) -> None:
    assert invitation_from_token(invitation_token(invitation)) == invitation


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: ("A" if token[0] != "A" else "B") + token[1:],
        lambda token: token.replace(":", ":x", 1),
        lambda token: token[: len(token) // 2],
        lambda token: "",
    ],
    ids=["signature-changed", "payload-changed", "timestamp-changed", "truncated", "empty"],
)
def test_a_tampered_token_is_refused(invitation: Invitation, mangle: Callable[[str], str]) -> None:
    with pytest.raises(InvitationInvalid) as excinfo:
        invitation_from_token(mangle(invitation_token(invitation)))

    assert str(excinfo.value) == (
        "This invitation link is not valid. Check that you copied the whole link."
    )


def test_an_expired_invitation_is_refused_saying_when_it_expired(invitation: Invitation) -> None:
    expired_at = timezone.now() - timedelta(days=2)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=expired_at)

    with pytest.raises(InvitationInvalid) as excinfo:
        invitation_from_token(invitation_token(invitation))

    when = timezone.localtime(expired_at).strftime("%Y-%m-%d %H:%M")
    assert str(excinfo.value) == (
        f"This invitation expired on {when}. Ask Alpha Trading Co., Ltd. for a new one."
    )


def test_a_revoked_invitation_is_refused(invitation: Invitation, owner: User) -> None:
    invitation_revoke(invitation=invitation, actor=owner)

    with pytest.raises(InvitationInvalid) as excinfo:
        invitation_from_token(invitation_token(invitation))

    assert str(excinfo.value) == (
        "This invitation was withdrawn. Ask Alpha Trading Co., Ltd. for a new one."
    )


def test_an_accepted_invitation_cannot_be_used_again(invitation: Invitation) -> None:
    invitation_accept(invitation=invitation, password=STRONG_PASSWORD)

    with pytest.raises(InvitationInvalid) as excinfo:
        invitation_from_token(invitation_token(invitation))

    assert "already been used" in str(excinfo.value)
    assert "Alpha Trading Co., Ltd." in str(excinfo.value)


# --- Accepting -----------------------------------------------------------------------------------


def test_accepting_creates_the_person_and_their_membership_once(
    invitation: Invitation, company: Company
) -> None:
    membership = invitation_accept(
        invitation=invitation,
        password=STRONG_PASSWORD,
        first_name="Mei",
        last_name="Lin",
        ip="198.51.100.7",
    )

    user = User.objects.get(email=NEWCOMER)
    assert membership.user == user
    assert membership.company == company
    assert membership.role == Role.PURCHASER
    assert user.get_full_name() == "Mei Lin"
    assert user.check_password(STRONG_PASSWORD)
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert invitation.accepted_by == user
    joined = AuditEvent.objects.get(action="membership.joined")
    assert joined.actor == user
    assert joined.ip == "198.51.100.7"


def test_accepting_a_second_time_is_refused_and_creates_nothing_more(
    invitation: Invitation,
) -> None:
    invitation_accept(invitation=invitation, password=STRONG_PASSWORD)
    snapshot = _counts()

    with pytest.raises(InvitationInvalid, match="already been used"):
        invitation_accept(invitation=invitation, password=STRONG_PASSWORD)

    assert _nothing_changed_since(snapshot)
    assert User.objects.filter(email=NEWCOMER).count() == 1


@pytest.mark.parametrize("weak", ["short1!", "password1234", "123456789012", "newcomer@a.example"])
def test_a_weak_password_is_refused_and_nobody_joins(invitation: Invitation, weak: str) -> None:
    snapshot = _counts()

    with pytest.raises(ValidationError):
        invitation_accept(invitation=invitation, password=weak)

    assert _nothing_changed_since(snapshot)
    invitation.refresh_from_db()
    assert invitation.is_open


def test_an_existing_account_must_sign_in_before_accepting(company: Company, owner: User) -> None:
    User.objects.create_user("known@b.example", "Correct-Horse-42")
    invitation = invitation_create(
        company=company, email="known@b.example", role=Role.VIEWER, invited_by=owner
    )

    with pytest.raises(InvitationInvalid, match="already has an account: sign in first"):
        invitation_accept(invitation=invitation, password=STRONG_PASSWORD)

    assert not Membership.objects.filter(user__email="known@b.example").exists()


def test_a_signed_in_person_cannot_accept_an_invitation_for_another_address(
    invitation: Invitation,
) -> None:
    stranger = User.objects.create_user("stranger@c.example", "Correct-Horse-42")

    with pytest.raises(InvitationInvalid, match=f"This invitation is for {NEWCOMER}"):
        invitation_accept(invitation=invitation, user=stranger)

    assert not Membership.objects.filter(user=stranger).exists()


# --- Accepting through the web -------------------------------------------------------------------


def test_the_link_moves_the_token_out_of_the_address_bar(
    client: Client, invitation: Invitation
) -> None:
    token = invitation_token(invitation)

    response = client.get(f"/invite/{token}/", follow=True)

    assert response.redirect_chain == [("/invite/accept/", 302)]
    assert response.status_code == 200
    assert token not in response.request["PATH_INFO"]
    assert token not in response.text
    assert "Join Alpha Trading Co., Ltd." in response.text
    assert NEWCOMER in response.text


def test_a_newcomer_sets_a_password_and_is_signed_in_to_the_company(
    client: Client, invitation: Invitation, company: Company
) -> None:
    client.get(f"/invite/{invitation_token(invitation)}/")

    response = client.post(
        "/invite/accept/",
        {
            "first_name": "Mei",
            "last_name": "Lin",
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email=NEWCOMER)
    assert client.session[SESSION_KEY] == str(user.pk)
    dashboard = page_text(client, "/")
    assert "Welcome to Alpha Trading Co., Ltd." in dashboard
    assert "Alpha Trading Co., Ltd." in dashboard
    assert Membership.objects.get(user=user).company == company
    assert AuditEvent.objects.filter(action="auth.login", actor=user).count() == 1


def test_mismatched_passwords_are_shown_and_nobody_joins(
    client: Client, invitation: Invitation
) -> None:
    client.get(f"/invite/{invitation_token(invitation)}/")
    snapshot = _counts()

    response = client.post(
        "/invite/accept/",
        {
            "first_name": "Mei",
            "last_name": "Lin",
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD + "x",
        },
    )

    assert response.status_code == 200
    assert "The two passwords differ. Type the same one twice." in response.text
    assert _nothing_changed_since(snapshot)
    assert SESSION_KEY not in client.session


def test_a_weak_password_on_the_accept_page_is_shown_and_nobody_joins(
    client: Client, invitation: Invitation
) -> None:
    client.get(f"/invite/{invitation_token(invitation)}/")
    snapshot = _counts()

    response = client.post(
        "/invite/accept/",
        {"first_name": "Mei", "last_name": "Lin", "password1": "short", "password2": "short"},
    )

    assert response.status_code == 200
    assert "This password is too short" in response.text
    assert _nothing_changed_since(snapshot)


def test_an_expired_link_explains_itself_with_status_400(
    client: Client, invitation: Invitation
) -> None:
    expired_at = timezone.now() - timedelta(hours=3)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=expired_at)

    response = client.get(f"/invite/{invitation_token(invitation)}/", follow=True)

    assert response.status_code == 400
    when = timezone.localtime(expired_at).strftime("%Y-%m-%d %H:%M")
    assert f"This invitation expired on {when}." in response.text
    assert 'name="password1"' not in response.text


def test_a_reused_link_explains_itself_with_status_400(
    client: Client, invitation: Invitation
) -> None:
    token = invitation_token(invitation)
    invitation_accept(invitation=invitation, password=STRONG_PASSWORD)
    snapshot = _counts()

    response = client.get(f"/invite/{token}/", follow=True)

    assert response.status_code == 400
    assert "This invitation has already been used." in response.text
    assert _nothing_changed_since(snapshot)


def test_posting_a_used_link_again_is_refused_with_status_400(
    client: Client, invitation: Invitation
) -> None:
    client.get(f"/invite/{invitation_token(invitation)}/")
    invitation_accept(invitation=invitation, password=STRONG_PASSWORD)
    snapshot = _counts()

    response = client.post(
        "/invite/accept/",
        {
            "first_name": "Other",
            "last_name": "Person",
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 400
    assert "already been used" in response.text
    assert _nothing_changed_since(snapshot)


def test_a_tampered_link_explains_itself_with_status_400(
    client: Client, invitation: Invitation
) -> None:
    token = invitation_token(invitation)

    response = client.get(f"/invite/{token[:-3]}xyz/", follow=True)

    assert response.status_code == 400
    assert escape("This invitation link is not valid.") in response.text


# --- Changing roles and removing members --------------------------------------------------------


def test_the_last_owner_cannot_be_demoted(owner_membership: Membership, owner: User) -> None:
    snapshot = _counts()

    with pytest.raises(LastOwner) as excinfo:
        membership_change_role(membership=owner_membership, role=Role.VIEWER, actor=owner)

    assert excinfo.value.messages == [
        "A company needs at least one owner. Make someone else an owner first."
    ]
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER
    assert _nothing_changed_since(snapshot)


def test_the_last_owner_cannot_be_removed(owner_membership: Membership, owner: User) -> None:
    snapshot = _counts()

    with pytest.raises(LastOwner, match="at least one owner"):
        membership_remove(membership=owner_membership, actor=owner)

    assert Membership.objects.filter(pk=owner_membership.pk, role=Role.OWNER).exists()
    assert _nothing_changed_since(snapshot)


def test_with_a_second_owner_the_first_may_step_down(
    owner_membership: Membership, owner: User, purchaser: Membership
) -> None:
    membership_change_role(membership=purchaser, role=Role.OWNER, actor=owner)

    membership_change_role(membership=owner_membership, role=Role.VIEWER, actor=owner)

    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.VIEWER


def test_an_unknown_role_is_refused_when_changing_a_role(
    purchaser: Membership, owner: User
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        membership_change_role(membership=purchaser, role="superuser", actor=owner)

    assert excinfo.value.message_dict == {"role": ["Choose one of the listed roles."]}
    purchaser.refresh_from_db()
    assert purchaser.role == Role.PURCHASER


def test_an_owner_changes_a_members_role_on_the_web_and_the_trail_shows_before_and_after(
    owner_client: Client, owner: User, purchaser: Membership
) -> None:
    response = owner_client.post(f"/members/{purchaser.public_id}/role/", {"role": "approver"})

    assert response.status_code == 302
    assert response["Location"] == f"/members/{purchaser.public_id}/"
    purchaser.refresh_from_db()
    assert purchaser.role == Role.APPROVER
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert event.actor == owner
    assert event.company_id == purchaser.company_id
    assert event.object_id == str(purchaser.public_id)
    assert event.changes == {"email": "buyer@a.example", "role": ["purchaser", "approver"]}
    detail = page_text(owner_client, f"/members/{purchaser.public_id}/")
    assert "Role changed." in detail
    assert "Approver" in detail


def test_an_owner_removes_a_member_on_the_web_and_the_trail_records_it(
    owner_client: Client, owner: User, purchaser: Membership
) -> None:
    response = owner_client.post(f"/members/{purchaser.public_id}/remove/")

    assert response.status_code == 302
    assert response["Location"] == "/members/"
    assert not Membership.objects.filter(pk=purchaser.pk).exists()
    assert User.objects.filter(email="buyer@a.example").exists()
    event = AuditEvent.objects.get(action="membership.removed")
    assert event.actor == owner
    assert event.changes == {"email": "buyer@a.example", "role": "purchaser"}
    listing = page_text(owner_client, "/members/")
    assert "Member removed." in listing
    assert "buyer@a.example" not in listing


def test_the_last_owner_demoting_themselves_on_the_web_is_told_why_not(
    owner_client: Client, owner_membership: Membership
) -> None:
    snapshot = _counts()

    response = owner_client.post(
        f"/members/{owner_membership.public_id}/role/", {"role": "viewer"}, follow=True
    )

    assert response.status_code == 200
    assert "A company needs at least one owner. Make someone else an owner first." in response.text
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER
    assert _nothing_changed_since(snapshot)


def test_the_last_owner_removing_themselves_on_the_web_is_told_why_not(
    owner_client: Client, owner_membership: Membership
) -> None:
    snapshot = _counts()

    response = owner_client.post(f"/members/{owner_membership.public_id}/remove/", follow=True)

    assert response.status_code == 200
    assert "A company needs at least one owner." in response.text
    assert Membership.objects.filter(pk=owner_membership.pk).exists()
    assert _nothing_changed_since(snapshot)


def test_an_unknown_role_posted_on_the_web_changes_nothing(
    owner_client: Client, purchaser: Membership
) -> None:
    response = owner_client.post(
        f"/members/{purchaser.public_id}/role/", {"role": "superuser"}, follow=True
    )

    assert "Choose one of the listed roles." in response.text
    purchaser.refresh_from_db()
    assert purchaser.role == Role.PURCHASER


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.VIEWER, Role.APPROVER, Role.FINANCE])
def test_members_who_are_not_owners_may_not_change_roles_or_remove_anyone(
    client: Client, company: Company, owner_membership: Membership, role: Role
) -> None:
    colleague = User.objects.create_user("colleague@a.example", "Correct-Horse-42")
    Membership.objects.create(user=colleague, company=company, role=Role.VIEWER)
    actor = User.objects.create_user("actor@a.example", "Correct-Horse-42")
    Membership.objects.create(user=actor, company=company, role=role)
    sign_in(client, actor, second_factor=role in {Role.APPROVER, Role.FINANCE})
    target = Membership.objects.get(user=colleague)
    snapshot = _counts()

    attempts = [
        client.post(f"/members/{target.public_id}/role/", {"role": "owner"}),
        client.post(f"/members/{owner_membership.public_id}/role/", {"role": "viewer"}),
        client.post(f"/members/{target.public_id}/remove/"),
        client.post(f"/members/{owner_membership.public_id}/remove/"),
    ]

    assert [r.status_code for r in attempts] == [403, 403, 403, 403]
    assert _nothing_changed_since(snapshot)
    target.refresh_from_db()
    assert target.role == Role.VIEWER


def test_a_non_owner_may_not_revoke_an_invitation(
    client: Client, purchaser: Membership, invitation: Invitation
) -> None:
    sign_in(client, purchaser.user, second_factor=False)

    response = client.post(f"/invitations/{invitation.public_id}/revoke/")

    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.is_open


def test_an_owner_revokes_an_invitation_and_its_link_stops_working(
    owner_client: Client, invitation: Invitation
) -> None:
    token = invitation_token(invitation)

    response = owner_client.post(f"/invitations/{invitation.public_id}/revoke/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    with pytest.raises(InvitationInvalid, match="withdrawn"):
        invitation_from_token(token)
