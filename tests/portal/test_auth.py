"""Signing in and out, lockout, the second factor (TOTP), password reset and the admin sign-in.

Every test drives the portal through HTTP with Django's test client, the way a browser would, and
checks what the person would notice: where they land, what the page says, what the audit trail
records.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings

from portal.models import AuditEvent, Company, Membership, Role, User
from portal.services.companies import company_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """These tests sign in hundreds of times; what they check (lockouts, resets, second factors)
    does not depend on the hasher, which costs about a second per password by design."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

PASSWORD = "Correct-Horse-Battery-42"
NEW_PASSWORD = "Fresh-Lantern-Meadow-77"
CREDIT_CODE = "91350100M000100Y43"
OTHER_CREDIT_CODE = "91110000100000000R"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SESSION_COOKIE = "sessionid"
EN = {"Accept-Language": "en"}
RESET_LINK = re.compile(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)")

# --- Helpers -------------------------------------------------------------------------------------


def make_user(email: str = "li.wei@example.com", role: str | None = None) -> User:
    """A user with PASSWORD and, when ``role`` is given, that role in a company."""
    user = User.objects.create_user(email, PASSWORD)
    if role == Role.OWNER:
        company_create(legal_name="Fujian Trading Co.", credit_code=CREDIT_CODE, owner=user)
    elif role is not None:
        company = Company.objects.filter(credit_code=OTHER_CREDIT_CODE).first()
        if company is None:
            owner = User.objects.create_user("boss@example.com", PASSWORD)
            company = company_create(
                legal_name="Beijing Supplies Co.", credit_code=OTHER_CREDIT_CODE, owner=owner
            )
        Membership.objects.create(user=user, company=company, role=role)
    return user


def confirmed_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def totp_code(key: bytes, *, step: int = 30, t0: int = 0, drift: int = 0) -> str:
    """The code an authenticator app shows right now for this secret."""
    totp = TOTP(key, step, t0, 6, drift)
    totp.time = time.time()
    return f"{totp.token():06d}"


def device_code(device: TOTPDevice) -> str:
    return totp_code(device.bin_key, step=device.step, t0=device.t0, drift=device.drift)


def wrong_code(key: bytes) -> str:
    """Six digits that match none of the codes accepted right now (the window is ±1 step)."""
    accepted = set()
    for offset in (-2, -1, 0, 1, 2):
        totp = TOTP(key, 30, 0, 6, 0)
        totp.time = time.time() + offset * 30
        accepted.add(f"{totp.token():06d}")
    return next(c for c in (f"{n:06d}" for n in range(1, 100)) if c not in accepted)


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/login/", {"username": email, "password": password}, **extra)


def events(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters))


def session_cookie(client: Client) -> str:
    return client.cookies[SESSION_COOKIE].value


def text(response: Any) -> str:
    return response.content.decode()


# --- Signing in with email and password ----------------------------------------------------------


def test_right_password_signs_in_records_the_ip_and_gives_a_new_session_id(
    client: Client,
) -> None:
    # Given a viewer, and a session id that existed before signing in (a possible fixation)
    user = make_user(role=Role.VIEWER)
    planted = client.session
    planted["marker"] = "before"
    planted.save()
    planted_key = planted.session_key
    assert session_cookie(client) == planted_key

    # When they sign in with their email and password
    response = sign_in(client, "Li.Wei@Example.com", REMOTE_ADDR="203.0.113.7")

    # Then they land on the dashboard under a new session id
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"
    assert session_cookie(client) != planted_key
    assert client.session.session_key != planted_key
    assert client.get("/").status_code == HTTPStatus.OK
    # And the sign-in is in the audit trail with the address it came from
    (event,) = events("auth.login")
    assert event.actor == user
    assert event.ip == "203.0.113.7"
    user.refresh_from_db()
    assert user.last_login is not None


def test_wrong_password_shows_a_clear_error_and_changes_nothing(client: Client) -> None:
    # Given a user
    user = make_user(role=Role.VIEWER)

    # When they type a wrong password (English page)
    response = sign_in(
        client, user.email, "not-my-password", REMOTE_ADDR="198.51.100.4", headers=EN
    )

    # Then the form comes back with an error saying what went wrong
    assert response.status_code == HTTPStatus.OK
    assert "Please enter a correct email address and password." in text(response)
    # And they are not signed in
    assert client.get("/").status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.last_login is None
    assert events("auth.login") == []
    # And the failure is recorded against the account and the address
    (failed,) = events("auth.login_failed")
    assert failed.actor == user
    assert failed.actor_label == user.email
    assert failed.ip == "198.51.100.4"


def test_wrong_password_error_is_translated_for_chinese_readers(client: Client) -> None:
    # Given a user
    user = make_user(role=Role.VIEWER)

    # When a wrong password is typed once with an English and once with a Chinese browser
    english = text(sign_in(client, user.email, "not-my-password", headers=EN))
    chinese = text(
        sign_in(client, user.email, "not-my-password", headers={"Accept-Language": "zh-hans"})
    )

    # Then the Chinese page does not show the English sentence, but Chinese text instead.
    # (The project catalog is being written separately: only Django's own catalog is relied on.)
    assert "Please enter a correct email address and password." in english
    assert "Please enter a correct" not in chinese
    assert "密码" in chinese


def test_unknown_email_gets_the_same_error_and_is_recorded_without_an_actor(
    client: Client,
) -> None:
    # Given no account for an address
    # When someone tries to sign in with it
    response = sign_in(client, "nobody@example.com", "whatever-password", headers=EN)

    # Then they see the same error as for a wrong password
    assert "Please enter a correct email address and password." in text(response)
    # And the failure is recorded with the address typed but no account
    (failed,) = events("auth.login_failed")
    assert failed.actor is None
    assert failed.actor_label == "nobody@example.com"


# --- Lockout after repeated wrong passwords (django-axes) ----------------------------------------


def test_account_locks_after_five_wrong_passwords_and_even_the_right_one_is_refused(
    client: Client, settings: Settings
) -> None:
    # Given a user and the configured limit of failures
    user = make_user(role=Role.VIEWER)
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5

    # When the password is guessed wrong fewer times than the limit, the form still answers
    for _ in range(limit - 1):
        assert sign_in(client, user.email, "guess-guess", headers=EN).status_code == HTTPStatus.OK
    # And the failure that reaches the limit locks the account
    locking = sign_in(client, user.email, "guess-guess", headers=EN)
    assert locking.status_code == HTTPStatus.TOO_MANY_REQUESTS

    # Then even the right password is refused with the locked-out page
    response = sign_in(client, user.email, PASSWORD, headers=EN)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = text(response)
    assert "Too many failed sign-ins" in page
    assert "reset your password" in page
    assert 'href="/password-reset/"' in page
    # And the user is not signed in
    assert client.get("/").status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.last_login is None
    assert events("auth.login") == []


def test_lockout_of_one_account_is_per_account_from_another_address(
    client: Client, settings: Settings
) -> None:
    # Given an account locked by the account-wide limit of failures from a few addresses
    victim = make_user("victim@example.com", role=Role.VIEWER)
    other = make_user("colleague@example.com", role=Role.PURCHASER)
    for n in range(settings.LOGIN_ACCOUNT_FAILURE_LIMIT):
        sign_in(client, victim.email, "guess-guess", REMOTE_ADDR=f"198.51.100.{60 + n % 3}")

    # When a colleague signs in from another address
    response = Client().post(
        "/login/",
        {"username": other.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.20",
    )

    # Then their account is not affected
    assert response.status_code == HTTPStatus.FOUND
    # But the locked account stays locked from any address
    from_elsewhere = Client().post(
        "/login/",
        {"username": victim.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.21",
    )
    assert from_elsewhere.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_changing_the_capitals_of_the_address_does_not_get_around_the_lockout(
    client: Client, settings: Settings
) -> None:
    # Given a user, and someone guessing from a new address each time with other capitals
    user = make_user(role=Role.VIEWER)
    spellings = ["li.wei@example.com", "Li.Wei@example.com", "LI.WEI@EXAMPLE.COM"]
    for n in range(settings.LOGIN_ACCOUNT_FAILURE_LIMIT):
        sign_in(
            Client(), spellings[n % len(spellings)], "guess-guess", REMOTE_ADDR=f"198.51.100.{n}"
        )

    # When the owner of the account signs in with the right password from their own address
    response = sign_in(client, user.email, REMOTE_ADDR="203.0.113.30", headers=EN)

    # Then the account is locked all the same
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Too many failed sign-ins" in text(response)


def test_a_few_wrong_passwords_are_forgotten_after_a_successful_sign_in(client: Client) -> None:
    # Given a user who mistyped the password four times, then got it right
    user = make_user(role=Role.VIEWER)
    for _ in range(4):
        sign_in(client, user.email, "typo-typo")
    assert sign_in(client, user.email).status_code == HTTPStatus.FOUND
    client.post("/logout/")

    # When they mistype it once more on another day
    response = sign_in(client, user.email, "typo-typo")

    # Then they simply see the form again, not the locked-out page
    assert response.status_code == HTTPStatus.OK
    assert sign_in(client, user.email).status_code == HTTPStatus.FOUND


def test_resetting_the_password_as_the_locked_out_page_suggests_ends_the_lockout(
    client: Client, mailoutbox: list[Any], settings: Settings
) -> None:
    # Given an account locked by someone guessing from elsewhere
    user = make_user(role=Role.VIEWER)
    for n in range(settings.LOGIN_ACCOUNT_FAILURE_LIMIT):
        sign_in(Client(), user.email, "guess-guess", REMOTE_ADDR=f"198.51.100.{60 + n % 3}")
    locked = sign_in(client, user.email, REMOTE_ADDR="203.0.113.30", headers=EN)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS

    # When the owner follows the page's advice and resets the password by email
    client.post("/password-reset/", {"email": user.email}, REMOTE_ADDR="203.0.113.30")
    match = RESET_LINK.search(mailoutbox[0].body)
    assert match
    form_url = client.get(match.group(1), REMOTE_ADDR="203.0.113.30")["Location"]
    client.post(
        form_url,
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR="203.0.113.30",
    )

    # Then the new password signs them in at once
    response = sign_in(client, user.email, NEW_PASSWORD, REMOTE_ADDR="203.0.113.30")
    assert response.status_code == HTTPStatus.FOUND
    assert client.get("/").status_code == HTTPStatus.OK


def test_one_persons_typos_do_not_lock_a_colleague_behind_the_same_address(
    client: Client, settings: Settings
) -> None:
    # Given two colleagues in one office, behind one address
    typist = make_user("typist@example.com", role=Role.VIEWER)
    colleague = make_user("colleague@example.com", role=Role.PURCHASER)
    office = "203.0.113.50"

    # When one of them mistypes the password until locked out
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), typist.email, "typo-typo", REMOTE_ADDR=office)
    assert sign_in(Client(), typist.email, REMOTE_ADDR=office).status_code == (
        HTTPStatus.TOO_MANY_REQUESTS
    )

    # Then the colleague signs in from the same address all the same
    response = sign_in(client, colleague.email, REMOTE_ADDR=office)
    assert response.status_code == HTTPStatus.FOUND
    assert client.get("/").status_code == HTTPStatus.OK


def test_failures_from_one_address_lock_the_account_there_before_they_lock_it_everywhere(
    settings: Settings,
) -> None:
    # Given an account with as many failures from one address as the per-address limit allows,
    # fewer than the account-wide limit
    user = make_user(role=Role.VIEWER)
    assert settings.AXES_FAILURE_LIMIT < settings.LOGIN_ACCOUNT_FAILURE_LIMIT
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), user.email, "guess-guess", REMOTE_ADDR="198.51.100.66")

    # Then that address is locked out of the account
    from_there = sign_in(Client(), user.email, REMOTE_ADDR="198.51.100.66")
    assert from_there.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # But its owner still signs in from their own address
    assert sign_in(Client(), user.email, REMOTE_ADDR="203.0.113.30").status_code == HTTPStatus.FOUND


def test_one_address_guessing_many_accounts_is_locked_out(settings: Settings) -> None:
    # Given a lower per-address limit, and real users behind two addresses
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    user = make_user(role=Role.VIEWER)
    sprayer = "198.51.100.99"

    # When one address tries a password on one account fewer than the limit, no lockout yet
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        sign_in(Client(), f"person{n}@example.com", "Summer2026!", REMOTE_ADDR=sprayer)
    assert sign_in(Client(), user.email, REMOTE_ADDR=sprayer).status_code == HTTPStatus.FOUND
    # And a further round of guesses reaching the limit locks that address for every account
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        sign_in(Client(), f"other{n}@example.com", "Summer2026!", REMOTE_ADDR=sprayer)
    assert sign_in(Client(), user.email, REMOTE_ADDR=sprayer).status_code == (
        HTTPStatus.TOO_MANY_REQUESTS
    )
    # While other addresses are not affected
    assert sign_in(Client(), user.email, REMOTE_ADDR="203.0.113.30").status_code == HTTPStatus.FOUND


def _age_failures(minutes: int) -> None:
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_attempts_during_a_lockout_do_not_extend_it(settings: Settings) -> None:
    # Given an account locked out from an address
    user = make_user(role=Role.VIEWER)
    address = "198.51.100.66"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), user.email, "guess-guess", REMOTE_ADDR=address)
    cooloff = settings.AXES_COOLOFF_TIME
    assert cooloff == timedelta(minutes=15)

    # When, ten minutes later, more passwords are tried while it is locked
    _age_failures(10)
    for password in ("guess-again", PASSWORD):
        response = sign_in(Client(), user.email, password, REMOTE_ADDR=address)
        assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS

    # Then the lockout still ends fifteen minutes after the failure that caused it
    _age_failures(6)
    assert sign_in(Client(), user.email, REMOTE_ADDR=address).status_code == HTTPStatus.FOUND


# --- The client's address behind the TLS proxy ---------------------------------------------------

PROXY = "10.0.0.5"


def test_behind_the_proxy_lockout_and_audit_use_the_forwarded_client_address(
    settings: Settings,
) -> None:
    # Given the portal behind one trusted proxy, and two people whose requests it forwards
    settings.TRUSTED_PROXY_COUNT = 1
    user = make_user(role=Role.VIEWER)

    def via_proxy(client_address: str, password: str) -> Any:
        forwarded = f"192.0.2.1, {client_address}"  # the left entry is whatever the client sent
        return sign_in(
            Client(),
            user.email,
            password,
            REMOTE_ADDR=PROXY,
            headers={"X-Forwarded-For": forwarded},
        )

    # When one address fails until locked out
    for _ in range(settings.AXES_FAILURE_LIMIT):
        via_proxy("198.51.100.66", "guess-guess")

    # Then the lockout and the audit trail name that client, not the proxy
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.66"}
    assert {e.ip for e in events("auth.login_failed")} == {"198.51.100.66"}
    assert via_proxy("198.51.100.66", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS
    # And the same account signs in from another client through the same proxy
    assert via_proxy("203.0.113.30", PASSWORD).status_code == HTTPStatus.FOUND
    (login,) = events("auth.login")
    assert login.ip == "203.0.113.30"


def test_without_a_proxy_a_forwarded_header_sent_by_the_client_is_ignored(
    settings: Settings,
) -> None:
    # Given the portal reached directly (no trusted proxy)
    settings.TRUSTED_PROXY_COUNT = 0
    user = make_user(role=Role.VIEWER)
    attacker = "198.51.100.66"

    # When a client fails with a new made-up X-Forwarded-For each time
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(
            Client(),
            user.email,
            "guess-guess",
            REMOTE_ADDR=attacker,
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )

    # Then its own address is locked and recorded, whatever the header said
    response = sign_in(
        Client(),
        user.email,
        REMOTE_ADDR=attacker,
        headers={"X-Forwarded-For": "203.0.113.200"},
    )
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {attacker}
    assert {e.ip for e in events("auth.login_failed")} == {attacker}


# --- Setting up the second factor ----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.FINANCE, Role.APPROVER])
def test_role_that_needs_two_factor_is_sent_to_setup_from_every_page(
    client: Client, role: str
) -> None:
    # Given a user whose role needs a second factor and who has no device yet
    user = make_user(role=role)

    # When they sign in with their password
    response = sign_in(client, user.email)
    assert response.status_code == HTTPStatus.FOUND

    # Then every portal page sends them to the setup page first
    for page in ("/", "/members/", "/audit/", "/no-company/"):
        redirect = client.get(page)
        assert redirect.status_code == HTTPStatus.FOUND
        assert redirect["Location"].startswith("/2fa/setup/?next=")
    assert client.get("/members/")["Location"] == "/2fa/setup/?next=/members/"
    # And the setup page itself opens and says why
    setup = client.get("/2fa/setup/", headers=EN)
    assert setup.status_code == HTTPStatus.OK
    assert "Your role requires a second factor" in text(setup)


def test_confirming_a_device_with_the_right_code_opens_the_dashboard(
    client: Client,
) -> None:
    # Given an owner signed in with a password only, on the setup page
    user = make_user(role=Role.OWNER)
    sign_in(client, user.email)
    before_setup = session_cookie(client)
    page = client.get("/2fa/setup/?next=/members/", headers=EN)
    match = re.search(r'data-secret="([A-Z2-7]+)"', text(page))
    assert match, "the setup page shows the secret to type into the app"
    secret = match.group(1)
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))

    # When they enter the code their app computes from that secret
    response = client.post(
        "/2fa/setup/", {"token": totp_code(key), "next": "/members/"}, headers=EN
    )

    # Then they continue to the page they wanted, told that two-factor is on
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/members/"
    members = client.get("/members/", headers=EN)
    assert members.status_code == HTTPStatus.OK
    assert "Two-factor authentication is on." in text(members)
    # And the dashboard opens too
    assert client.get("/").status_code == HTTPStatus.OK
    # And the device is confirmed, the session id changed, and the trail says so
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed
    assert device.bin_key == key
    assert session_cookie(client) != before_setup
    (enabled,) = events("auth.2fa_enabled")
    assert enabled.actor == user


def test_wrong_code_on_setup_shows_an_error_and_confirms_nothing(
    client: Client, settings: Settings
) -> None:
    # Given a finance user on the setup page
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = make_user(role=Role.FINANCE)
    sign_in(client, user.email)
    client.get("/2fa/setup/")
    pending = TOTPDevice.objects.get(user=user, confirmed=False)

    # When they type a code that does not match
    response = client.post("/2fa/setup/", {"token": wrong_code(pending.bin_key)}, headers=EN)

    # Then the page says so and offers the same secret again
    assert response.status_code == HTTPStatus.OK
    assert "That code does not match." in text(response)
    assert f'data-secret="{base64.b32encode(pending.bin_key).decode().rstrip("=")}"' in text(
        response
    )
    # And nothing is confirmed: the portal is still closed and no event is written
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert client.get("/")["Location"] == "/2fa/setup/?next=/"
    assert events("auth.2fa_enabled") == []

    # When they then type the right code, it works
    response = client.post("/2fa/setup/", {"token": device_code(pending)})
    assert response.status_code == HTTPStatus.FOUND
    assert client.get("/").status_code == HTTPStatus.OK


def test_setup_code_that_is_not_six_digits_is_refused_with_a_hint(client: Client) -> None:
    # Given an approver on the setup page
    user = make_user(role=Role.APPROVER)
    sign_in(client, user.email)
    client.get("/2fa/setup/")

    # When they type letters instead of digits
    response = client.post("/2fa/setup/", {"token": "abc123"}, headers=EN)

    # Then the form explains the expected format and nothing is confirmed
    assert "Enter the 6 digits your authenticator app shows." in text(response)
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.PURCHASER])
def test_role_without_two_factor_requirement_is_not_forced_into_setup(
    client: Client, role: str
) -> None:
    # Given a viewer or purchaser without a device
    user = make_user(role=role)

    # When they sign in
    sign_in(client, user.email)

    # Then the portal opens straight away
    assert client.get("/").status_code == HTTPStatus.OK
    assert client.get("/members/").status_code == HTTPStatus.OK
    assert not TOTPDevice.objects.filter(user=user).exists()


# --- Signing in with a confirmed device ----------------------------------------------------------


def test_user_with_a_device_is_asked_for_a_code_after_the_password(client: Client) -> None:
    # Given a viewer who turned on two-factor voluntarily
    user = make_user(role=Role.VIEWER)
    confirmed_device(user)

    # When they sign in with the password
    sign_in(client, user.email)

    # Then portal pages ask for the code first
    for page in ("/", "/members/", "/2fa/"):
        response = client.get(page)
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == f"/2fa/verify/?next={page}"
    assert client.get("/2fa/verify/").status_code == HTTPStatus.OK


def test_wrong_code_at_sign_in_is_refused_and_recorded(client: Client, settings: Settings) -> None:
    # Given an owner with a device, past the password step
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = make_user(role=Role.OWNER)
    device = confirmed_device(user)
    sign_in(client, user.email)

    # When they type a wrong code
    response = client.post(
        "/2fa/verify/",
        {"token": wrong_code(device.bin_key)},
        REMOTE_ADDR="198.51.100.9",
        headers=EN,
    )

    # Then the page says the code is wrong, and the portal stays closed
    assert response.status_code == HTTPStatus.OK
    assert "That code is wrong or was already used." in text(response)
    assert client.get("/")["Location"] == "/2fa/verify/?next=/"
    # And the failure is in the audit trail
    (failed,) = events("auth.2fa_failed")
    assert failed.actor == user
    assert failed.ip == "198.51.100.9"
    assert events("auth.2fa_verified") == []


def test_right_code_at_sign_in_lets_the_user_in_with_a_new_session_id(client: Client) -> None:
    # Given a finance user with a device, past the password step
    user = make_user(role=Role.FINANCE)
    device = confirmed_device(user)
    sign_in(client, user.email)
    after_password = session_cookie(client)

    # When they type the current code
    response = client.post("/2fa/verify/", {"token": device_code(device), "next": "/members/"})

    # Then they reach the page they asked for, under yet another session id
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/members/"
    assert session_cookie(client) != after_password
    assert client.get("/").status_code == HTTPStatus.OK
    assert client.get("/members/").status_code == HTTPStatus.OK
    # And the verify page now just sends them on
    assert client.get("/2fa/verify/")["Location"] == "/"
    (verified,) = events("auth.2fa_verified")
    assert verified.actor == user


def test_verify_page_ignores_a_next_link_to_another_site(client: Client) -> None:
    # Given a user with a device, past the password step
    user = make_user(role=Role.APPROVER)
    device = confirmed_device(user)
    sign_in(client, user.email)

    # When the code is posted with a "next" pointing elsewhere
    response = client.post(
        "/2fa/verify/", {"token": device_code(device), "next": "https://evil.example/"}
    )

    # Then they stay on the portal
    assert response["Location"] == "/"


def test_a_code_cannot_be_replayed_in_a_new_session(client: Client, settings: Settings) -> None:
    # Given an approver who signed in with a code, then signed out
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = make_user(role=Role.APPROVER)
    device = confirmed_device(user)
    code = device_code(device)
    sign_in(client, user.email)
    assert client.post("/2fa/verify/", {"token": code}).status_code == HTTPStatus.FOUND
    client.post("/logout/")

    # When the same code is used again within its 30-second step, after a new password sign-in
    sign_in(client, user.email)
    response = client.post("/2fa/verify/", {"token": code}, headers=EN)

    # Then it is refused
    assert response.status_code == HTTPStatus.OK
    assert "That code is wrong or was already used." in text(response)
    assert client.get("/")["Location"] == "/2fa/verify/?next=/"
    assert len(events("auth.2fa_failed")) == 1


def test_quick_retries_after_a_wrong_code_are_throttled(client: Client) -> None:
    # Given the default throttling (the first wrong code makes the next try wait 1 s, then 2 s...)
    user = make_user(role=Role.OWNER)
    device = confirmed_device(user)
    sign_in(client, user.email)
    client.post("/2fa/verify/", {"token": wrong_code(device.bin_key)})

    # When the right code is sent at once
    response = client.post("/2fa/verify/", {"token": device_code(device)}, headers=EN)

    # Then it is refused with a message saying when to try again
    assert response.status_code == HTTPStatus.OK
    assert "Too many wrong codes. Wait until" in text(response)
    assert client.get("/")["Location"] == "/2fa/verify/?next=/"

    # And once the wait is over, the right code works
    device.refresh_from_db()
    assert device.throttling_failure_timestamp is not None
    device.throttling_failure_timestamp -= timedelta(seconds=5)
    device.save(update_fields=["throttling_failure_timestamp"])
    assert client.post("/2fa/verify/", {"token": device_code(device)}).status_code == (
        HTTPStatus.FOUND
    )


def test_password_alone_cannot_replace_an_existing_device(client: Client) -> None:
    # Given an owner with a device, and someone who knows only the password
    user = make_user(role=Role.OWNER)
    device = confirmed_device(user)
    sign_in(client, user.email)

    # When they open the setup page to enrol their own authenticator
    page = client.get("/2fa/setup/")
    # Then they are sent to the code check instead
    assert page.status_code == HTTPStatus.FOUND
    assert page["Location"] == "/2fa/verify/?next=/2fa/setup/"

    # And posting a code for a device of their own changes nothing either
    attacker_key = bytes(range(20))
    response = client.post("/2fa/setup/", {"token": totp_code(attacker_key)})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/2fa/verify/")
    assert list(TOTPDevice.objects.filter(user=user)) == [device]
    assert events("auth.2fa_enabled") == []


# --- Signing out ---------------------------------------------------------------------------------


def test_sign_out_is_a_post_and_is_recorded(client: Client) -> None:
    # Given a signed-in purchaser
    user = make_user(role=Role.PURCHASER)
    sign_in(client, user.email)

    # When a link (GET) points at the sign-out URL, nothing happens
    assert client.get("/logout/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert client.get("/").status_code == HTTPStatus.OK

    # When they press the sign-out button (POST)
    response = client.post("/logout/", REMOTE_ADDR="203.0.113.50")

    # Then they are back on the sign-in page and signed out
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/login/"
    assert client.get("/")["Location"].startswith("/login/")
    (logout,) = events("auth.logout")
    assert logout.actor == user
    assert logout.ip == "203.0.113.50"


# --- Password reset ------------------------------------------------------------------------------


def test_password_reset_by_email_link_sets_a_new_password_once(
    client: Client, mailoutbox: list[Any]
) -> None:
    # Given a user who forgot their password
    user = make_user(role=Role.VIEWER)

    # When they ask for a reset with their address
    response = client.post("/password-reset/", {"email": user.email}, headers=EN)

    # Then they are told to check their email, and exactly one email with a link arrives
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/password-reset/sent/"
    assert "Check your email" in text(client.get("/password-reset/sent/", headers=EN))
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [user.email]
    match = RESET_LINK.search(message.body)
    assert match, message.body
    link = match.group(1)
    (requested,) = events("auth.password_reset_requested")
    assert requested.actor == user

    # When they follow the link, land on the form, and choose a new password
    opened = client.get(link)
    assert opened.status_code == HTTPStatus.FOUND
    form_url = opened["Location"]
    assert form_url.endswith("/set-password/")
    form = client.get(form_url, headers=EN)
    assert "Choose a new password" in text(form)
    saved = client.post(
        form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, headers=EN
    )
    assert saved.status_code == HTTPStatus.FOUND
    assert saved["Location"] == "/password-reset/done/"
    (changed,) = events("auth.password_changed")
    assert changed.actor == user

    # Then the new password signs in, and the old one no longer does
    assert sign_in(Client(), user.email, PASSWORD).status_code == HTTPStatus.OK
    assert sign_in(Client(), user.email, NEW_PASSWORD).status_code == HTTPStatus.FOUND

    # And the same link does not work a second time
    again = Client().get(link, headers=EN)
    assert again.status_code == HTTPStatus.OK
    assert "This link no longer works" in text(again)
    assert "already used or has expired" in text(again)


def test_password_reset_rejects_a_weak_new_password(client: Client, mailoutbox: list[Any]) -> None:
    # Given a user who followed a reset link
    user = make_user(role=Role.VIEWER)
    client.post("/password-reset/", {"email": user.email})
    match = RESET_LINK.search(mailoutbox[0].body)
    assert match
    form_url = client.get(match.group(1))["Location"]

    # When they choose a short, common password
    response = client.post(
        form_url, {"new_password1": "password", "new_password2": "password"}, headers=EN
    )

    # Then the form refuses it and the old password still works
    assert response.status_code == HTTPStatus.OK
    assert "This password is too short." in text(response)
    assert events("auth.password_changed") == []
    assert sign_in(Client(), user.email, PASSWORD).status_code == HTTPStatus.FOUND


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(
    client: Client, mailoutbox: list[Any]
) -> None:
    # Given a known user (to compare with) and an address without an account
    user = make_user(role=Role.VIEWER)

    # When a reset is asked for the unknown address, and for the known one
    unknown = client.post("/password-reset/", {"email": "stranger@example.com"}, headers=EN)
    assert mailoutbox == []
    known = client.post("/password-reset/", {"email": user.email}, headers=EN)

    # Then both answers are the same "check your email" redirect: nothing reveals which exists
    assert unknown.status_code == known.status_code == HTTPStatus.FOUND
    assert unknown["Location"] == known["Location"] == "/password-reset/sent/"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [user.email]
    # And the attempt on the unknown address is still in the trail, without an account
    stranger = events("auth.password_reset_requested", actor_label="stranger@example.com")
    assert len(stranger) == 1
    assert stranger[0].actor is None


def test_a_tampered_reset_link_is_refused(client: Client) -> None:
    # Given a user
    make_user(role=Role.VIEWER)

    # When someone opens a reset link with a made-up token
    response = client.get("/password-reset/MQ/abc-0123456789abcdef/", headers=EN)

    # Then the page says the link does not work
    assert response.status_code == HTTPStatus.OK
    assert "This link no longer works" in text(response)


# --- Operations staff in the admin ---------------------------------------------------------------


def test_staff_without_a_verified_code_cannot_use_the_admin(client: Client) -> None:
    # Given a staff member signed in with a password only
    staff = User.objects.create_user("ops@example.com", PASSWORD, is_staff=True, is_superuser=True)
    client.force_login(staff, backend=MODEL_BACKEND)

    # When they open the admin
    response = client.get("/ops/")

    # Then they are sent to the admin sign-in, which asks for a code
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/ops/login/")
    login_page = client.get("/ops/login/?next=/ops/")
    assert login_page.status_code == HTTPStatus.OK
    assert 'name="otp_token"' in text(login_page)
    # And admin pages stay closed
    assert client.get("/ops/portal/company/").status_code == HTTPStatus.FOUND
    # And the portal sends them to set up a second factor, as staff always need one
    assert client.get("/")["Location"] == "/2fa/setup/?next=/"


def test_admin_sign_in_needs_the_code_as_well_as_the_password(client: Client) -> None:
    # Given a staff member with a device
    staff = User.objects.create_user("ops@example.com", PASSWORD, is_staff=True, is_superuser=True)
    device = confirmed_device(staff)
    company_create(legal_name="Xiamen Gifts Co.", credit_code=CREDIT_CODE, owner=make_user())

    # When they sign in to the admin with the password only
    without_code = client.post(
        "/ops/login/?next=/ops/", {"username": staff.email, "password": PASSWORD}, headers=EN
    )
    # Then the form asks for the code, offers their device, and the admin stays closed
    assert without_code.status_code == HTTPStatus.OK
    assert "Please enter your OTP token." in text(without_code)
    assert f'<option value="{device.persistent_id}"' in text(without_code)
    assert client.get("/ops/").status_code == HTTPStatus.FOUND

    # When they choose the device and type a wrong code
    credentials = {
        "username": staff.email,
        "password": PASSWORD,
        "otp_device": device.persistent_id,
    }
    wrong = client.post(
        "/ops/login/?next=/ops/",
        {**credentials, "otp_token": wrong_code(device.bin_key)},
        headers=EN,
    )
    # Then it is refused
    assert wrong.status_code == HTTPStatus.OK
    assert "Invalid token." in text(wrong)
    assert client.get("/ops/").status_code == HTTPStatus.FOUND

    # When they sign in with the password and the current code
    device.refresh_from_db()
    device.throttling_failure_timestamp = None
    device.throttling_failure_count = 0
    device.save()
    with_code = client.post(
        "/ops/login/?next=/ops/", {**credentials, "otp_token": device_code(device)}
    )
    # Then the admin opens, and so does the portal (the session passed the second factor)
    assert with_code.status_code == HTTPStatus.FOUND
    assert with_code["Location"] == "/ops/"
    assert client.get("/ops/").status_code == HTTPStatus.OK
    assert client.get("/ops/portal/company/").status_code == HTTPStatus.OK
    assert Company.objects.count() == 1


def test_admin_sign_in_takes_password_and_code_in_one_step(client: Client) -> None:
    # Given a staff member with one authenticator, typing the email with capitals
    staff = User.objects.create_user("ops@example.com", PASSWORD, is_staff=True, is_superuser=True)
    device = confirmed_device(staff)
    # When they submit email, password and the current code without choosing a device
    response = client.post(
        "/ops/login/?next=/ops/",
        {"username": "Ops@Example.com", "password": PASSWORD, "otp_token": device_code(device)},
    )
    # Then the admin opens at the first attempt
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/ops/"
    assert client.get("/ops/").status_code == HTTPStatus.OK
