"""Sessions: deactivating a user ends them for good, and a session that sees no request for
SESSION_IDLE_TIMEOUT_MINUTES ends on the server."""

from __future__ import annotations

import time
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from portal.models import AuditEvent, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PASSWORD = "Correct-Horse-Battery-42"


def sessions_of(user: User) -> list[Session]:
    return [
        s
        for s in Session.objects.filter(expire_date__gt=timezone.now())
        if s.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]


def signed_in(user: User) -> Client:
    """A browser that signed in with the password, as a person does."""
    client = Client()
    response = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert client.get("/").status_code == HTTPStatus.OK
    return client


def is_signed_in(client: Client) -> bool:
    response = client.get("/")
    return response.status_code == HTTPStatus.OK


@pytest.fixture
def viewer() -> User:
    user = factories.member(factories.company(), Role.VIEWER)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def operator_client() -> Client:
    """An operator allowed to manage users in the admin, past its second factor."""
    operator = factories.operator()
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client = Client()
    sign_in(client, operator, second_factor=True)
    return client


def admin_change(operator_client: Client, user: User, **changes: Any) -> Any:
    """Save the user's admin change form with these fields changed."""
    data = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v != ""}
    response = operator_client.post(f"/ops/portal/user/{user.pk}/change/", data)
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    return response


# --- Deactivation --------------------------------------------------------------------------------


def test_deactivating_a_user_in_the_admin_deletes_their_sessions_for_good(
    viewer: User, operator_client: Client
) -> None:
    # Given a user signed in in two browsers
    laptop, phone = signed_in(viewer), signed_in(viewer)
    assert len(sessions_of(viewer)) == 2

    # When an operator deactivates the account in the admin
    admin_change(operator_client, viewer, is_active="")

    # Then both sessions are gone from the server, and the browsers are signed out
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert sessions_of(viewer) == []
    # And reactivating the account does not bring them back
    admin_change(operator_client, viewer, is_active="on")
    viewer.refresh_from_db()
    assert viewer.is_active
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    # While the operator's own session is untouched
    assert operator_client.get("/ops/").status_code == HTTPStatus.OK
    # And both changes are in the audit trail
    deactivated = AuditEvent.objects.get(action="user.deactivated")
    assert deactivated.changes["sessions_deleted"] == 2
    assert AuditEvent.objects.filter(action="user.reactivated").count() == 1


def test_the_admin_action_deactivates_the_selected_users_and_ends_their_sessions(
    viewer: User, operator_client: Client
) -> None:
    browser = signed_in(viewer)

    response = operator_client.post(
        "/ops/portal/user/", {"action": "deactivate", "_selected_action": [viewer.pk]}
    )

    assert response.status_code == HTTPStatus.FOUND
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert sessions_of(viewer) == []
    User.objects.filter(pk=viewer.pk).update(is_active=True)
    assert not is_signed_in(browser)


def test_deactivating_one_user_leaves_other_users_sessions(viewer: User) -> None:
    from portal.services.users import user_set_active

    colleague = factories.member(factories.company(), Role.PURCHASER)
    colleague.set_password(PASSWORD)
    colleague.save()
    theirs = signed_in(colleague)
    signed_in(viewer)

    user_set_active(user=viewer, active=False, actor=None)

    assert sessions_of(viewer) == []
    assert len(sessions_of(colleague)) == 1
    assert is_signed_in(theirs)


# --- Idle timeout --------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Moves time.time() forward by ``clock.advance(minutes=...)``."""

    class Clock:
        offset = 0.0

        def advance(self, *, minutes: float) -> None:
            self.offset += minutes * 60

    clock = Clock()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + clock.offset)
    return clock


def test_a_session_without_requests_for_the_idle_timeout_ends_on_the_server(
    viewer: User, settings: Settings, clock: Any
) -> None:
    # Given a 30-minute idle timeout and a signed-in user who keeps working
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    browser = signed_in(viewer)
    for _ in range(4):
        clock.advance(minutes=20)
        assert is_signed_in(browser)

    # When they leave for more than the timeout
    clock.advance(minutes=31)

    # Then the next request finds them signed out, and the session is gone from the server
    response = browser.get("/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/login/")
    assert sessions_of(viewer) == []


def test_the_session_row_itself_expires_at_the_idle_deadline(
    viewer: User, settings: Settings
) -> None:
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    signed_in(viewer)

    (session,) = sessions_of(viewer)

    deadline = timezone.now() + timedelta(minutes=30)
    assert abs(session.expire_date - deadline) < timedelta(minutes=1)


def test_activity_does_not_stretch_a_session_past_its_maximum_age(
    viewer: User, settings: Settings, clock: Any
) -> None:
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    settings.SESSION_COOKIE_AGE = 3600
    browser = signed_in(viewer)
    for _ in range(2):
        clock.advance(minutes=25)
        assert is_signed_in(browser)

    clock.advance(minutes=15)

    assert not is_signed_in(browser)
