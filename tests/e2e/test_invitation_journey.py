"""A new finance member's first day, in a real browser.

Invitation link -> set a password -> required TOTP setup -> dashboard; sign out and back in with
a second factor (a replayed code is refused); switch language both ways; another company's
member and company pages are 404s; screenshots at desktop and phone sizes.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation
from django_otp.oath import TOTP, hotp
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from portal.models import Membership, Role, User
from portal.services.companies import company_create
from portal.services.memberships import invitation_create, invitation_token

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INVITEE_EMAIL = "newfinance@example.com"
INVITEE_PASSWORD = "Quiet-Harbour-Lantern-73"
COMPANY_A_NAME = "Fuzhou Lantern Trading Co., Ltd."
COMPANY_B_NAME = "Beijing Other Holdings Co., Ltd."
B_MEMBER_EMAIL = "b-purchaser-secret@example.com"
WAIT = 10


def _wait(browser: WebDriver, condition: Callable[[Any], Any], timeout: float = WAIT) -> Any:
    return WebDriverWait(browser, timeout).until(condition)


def _path(browser: WebDriver) -> str:
    return str(browser.execute_script("return window.location.pathname"))


def _wait_for_path(browser: WebDriver, path: str) -> None:
    _wait(browser, lambda b: _path(b) == path)


def _html_lang(browser: WebDriver) -> str:
    return str(browser.execute_script("return document.documentElement.lang"))


def _totp_key(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def _code(key: bytes, step: int) -> str:
    """The code of one time step (reading the step and the code separately could straddle one)."""
    return f"{hotp(key, step, digits=6):06d}"


def _submit_code(browser: WebDriver, code: str) -> None:
    field = browser.find_element(By.NAME, "token")
    field.clear()
    field.send_keys(code)
    field.submit()


def _nav_labels(browser: WebDriver) -> list[str]:
    return [a.text.strip() for a in browser.find_elements(By.CSS_SELECTOR, "nav.nav a")]


def _prefer_chinese(browser: WebDriver) -> None:
    """Send Accept-Language: zh-CN like a browser in China. Headless Chromium ignores --lang and
    sends en-US, so the fixture's --lang=zh-CN alone does not make Chinese the default."""
    user_agent = browser.execute_script("return navigator.userAgent")
    browser.execute_cdp_cmd(
        "Emulation.setUserAgentOverride", {"userAgent": user_agent, "acceptLanguage": "zh-CN,zh"}
    )


def _translated(language: str, message: str) -> str:
    with translation.override(language):
        return str(translation.gettext(message))


def test_invited_finance_member_journey(live_server: Any, browser: WebDriver) -> None:
    # --- 1. Two companies; an open finance invitation to company A ---------------------------
    owner_a = User.objects.create_user("owner-a@example.com", "Owner-A-password-91")
    company_a = company_create(
        legal_name=COMPANY_A_NAME, credit_code="91350100M000100Y43", owner=owner_a
    )
    owner_b = User.objects.create_user("owner-b@example.com", "Owner-B-password-91")
    company_b = company_create(
        legal_name=COMPANY_B_NAME, credit_code="91110000100000000R", owner=owner_b
    )
    b_member = User.objects.create_user(B_MEMBER_EMAIL, "B-member-password-91")
    b_membership = Membership.objects.create(user=b_member, company=company_b, role=Role.PURCHASER)
    invitation = invitation_create(
        company=company_a, email=INVITEE_EMAIL, role=Role.FINANCE, invited_by=owner_a
    )
    token = invitation_token(invitation)
    link = live_server.url + reverse("portal:invitation_open", kwargs={"token": token})

    # --- 2. Open the link: the token leaves the address bar; choose a password ------------------
    _prefer_chinese(browser)
    browser.get(link)
    _wait_for_path(browser, "/invite/accept/")
    assert token not in browser.current_url
    assert COMPANY_A_NAME in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.NAME, "first_name").send_keys("Mei")
    browser.find_element(By.NAME, "last_name").send_keys("Chen")
    browser.find_element(By.NAME, "password1").send_keys(INVITEE_PASSWORD)
    browser.find_element(By.NAME, "password2").send_keys(INVITEE_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    # --- 3. Finance needs a second factor: set up TOTP, then the dashboard --------------------
    _wait_for_path(browser, "/2fa/setup/")
    secret = browser.find_element(By.CSS_SELECTOR, '[data-testid="totp-secret"]').get_attribute(
        "data-secret"
    )
    assert secret
    key = _totp_key(secret)
    totp = TOTP(key)
    setup_step = totp.t()
    setup_code = _code(key, setup_step)
    _submit_code(browser, setup_code)
    _wait_for_path(browser, "/")
    title = browser.find_element(By.CSS_SELECTOR, '[data-testid="dashboard-title"]')
    assert title.text == COMPANY_A_NAME
    assert User.objects.get(email=INVITEE_EMAIL).memberships.get().role == Role.FINANCE

    # The stylesheet and the script were served (whitenoise, from the source folders).
    assert (
        browser.execute_script("return getComputedStyle(document.querySelector('.topbar')).display")
        == "flex"
    )
    assert "js-hidden" in (
        browser.find_element(By.ID, "language-submit").get_attribute("class") or ""
    )

    # --- 4. Sign out, sign in again: a replayed code is refused, a fresh one lets us in -------
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout/'] button[type=submit]").click()
    _wait_for_path(browser, "/login/")
    browser.find_element(By.NAME, "username").send_keys(INVITEE_EMAIL)
    browser.find_element(By.NAME, "password").send_keys(INVITEE_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    _wait_for_path(browser, "/2fa/verify/")

    _submit_code(browser, setup_code)
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".field.has-error .error"))
    assert _path(browser) == "/2fa/verify/"
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="dashboard-title"]')
    refused_at = time.monotonic()

    # django-otp accepts only a code from a later time step than the last accepted one.
    deadline = time.monotonic() + 31
    while totp.t() <= setup_step:
        assert time.monotonic() < deadline, "the TOTP time step did not advance"
        time.sleep(0.25)
    # A failed code throttles the device for 1 s (OTP_TOTP_THROTTLE_FACTOR = 1).
    time.sleep(max(0.0, refused_at + 1.5 - time.monotonic()))
    _submit_code(browser, _code(key, totp.t()))
    _wait_for_path(browser, "/")
    title = browser.find_element(By.CSS_SELECTOR, '[data-testid="dashboard-title"]')
    assert title.text == COMPANY_A_NAME

    # --- 5. Language: the browser asks for Chinese; switch to English and back ----------------
    assert _html_lang(browser) == "zh-hans"
    Select(browser.find_element(By.ID, "language-select")).select_by_value("en")
    _wait(browser, lambda b: _html_lang(b) == "en")
    _wait_for_path(browser, "/")
    assert "Dashboard" in _nav_labels(browser)
    assert "Members" in _nav_labels(browser)

    Select(browser.find_element(By.ID, "language-select")).select_by_value("zh-hans")
    _wait(browser, lambda b: _html_lang(b) == "zh-hans")
    _wait_for_path(browser, "/")
    zh_dashboard = _translated("zh-hans", "Dashboard")
    zh_members = _translated("zh-hans", "Members")
    assert zh_dashboard in _nav_labels(browser)
    assert zh_members in _nav_labels(browser)

    # --- 6. Another company's member and company pages are plain 404s -----------------------
    not_found = _translated("zh-hans", "Not found")
    for path in (
        reverse("portal:member_detail", kwargs={"public_id": b_membership.public_id}),
        reverse("portal:company_detail", kwargs={"public_id": company_b.public_id}),
    ):
        browser.get(live_server.url + path)
        _wait(browser, lambda b: b.find_element(By.TAG_NAME, "h1").text == not_found)
        assert browser.title.startswith(not_found)
        source = browser.page_source
        assert B_MEMBER_EMAIL not in source
        assert COMPANY_B_NAME not in source
        assert "owner-b@example.com" not in source

    # --- 7. Screenshots of the dashboard, desktop and phone ---------------------------------
    browser.get(live_server.url + "/")
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="dashboard-title"]'))
    assert browser.save_screenshot("/tmp/e2e-dashboard.png")
    browser.set_window_size(390, 844)
    _wait(browser, lambda b: b.execute_script("return window.innerWidth") <= 400)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the dashboard scrolls sideways on a phone"
    assert browser.save_screenshot("/tmp/e2e-dashboard-phone.png")

    # Last, so the rest of the journey runs even before the catalogue is compiled.
    assert zh_dashboard != "Dashboard", (
        "no Chinese translation for 'Dashboard': compile locale/zh_Hans (compilemessages)"
    )
