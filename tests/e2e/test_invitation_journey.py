"""A new finance member's first day, in a real browser.

Invitation link -> set a password -> required TOTP setup -> dashboard; sign out and back in with
a second factor (a replayed code is refused); switch language both ways; another company's
member and company pages are 404s; screenshots at desktop and phone sizes.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation
from django_otp.oath import TOTP
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from portal.models import Membership, Role, User
from portal.services.companies import company_create
from portal.services.memberships import invitation_create, invitation_token
from tests.e2e.browse import (
    html_lang,
    nav_labels,
    path_of,
    prefer_chinese,
    screenshot,
    submit_code,
    totp_code,
    wait,
    wait_for_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INVITEE_EMAIL = "newfinance@example.com"
INVITEE_PASSWORD = "Quiet-Harbour-Lantern-73"
COMPANY_A_NAME = "Fuzhou Lantern Trading Co., Ltd."
COMPANY_B_NAME = "Beijing Other Holdings Co., Ltd."
B_MEMBER_EMAIL = "b-purchaser-secret@example.com"


def _totp_key(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


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
    prefer_chinese(browser)
    browser.get(link)
    wait_for_path(browser, "/invite/accept/")
    assert token not in browser.current_url
    assert COMPANY_A_NAME in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.NAME, "first_name").send_keys("Mei")
    browser.find_element(By.NAME, "last_name").send_keys("Chen")
    browser.find_element(By.NAME, "password1").send_keys(INVITEE_PASSWORD)
    browser.find_element(By.NAME, "password2").send_keys(INVITEE_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    # --- 3. Finance needs a second factor: set up TOTP, then the dashboard --------------------
    wait_for_path(browser, "/2fa/setup/")
    secret = browser.find_element(By.CSS_SELECTOR, '[data-testid="totp-secret"]').get_attribute(
        "data-secret"
    )
    assert secret
    key = _totp_key(secret)
    totp = TOTP(key)
    setup_step = totp.t()
    setup_code = totp_code(key, setup_step)
    submit_code(browser, setup_code)
    wait_for_path(browser, "/")
    title = browser.find_element(By.CSS_SELECTOR, '[data-testid="dashboard-title"]')
    assert title.text == COMPANY_A_NAME
    assert User.objects.get(email=INVITEE_EMAIL).memberships.get().role == Role.FINANCE

    # The stylesheet and the script were served (whitenoise, from the source folders): the
    # stylesheet's rules are loaded, and app.js hid the language form's button.
    assert browser.execute_script(
        "return [...document.styleSheets].some("
        "(sheet) => (sheet.href || '').includes('/static/portal/') && sheet.cssRules.length > 0)"
    ), "the portal's stylesheet was not loaded"
    assert "js-hidden" in (
        browser.find_element(By.ID, "language-submit").get_attribute("class") or ""
    )

    # --- 4. Sign out, sign in again: a replayed code is refused, a fresh one lets us in -------
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout/'] button[type=submit]").click()
    wait_for_path(browser, "/login/")
    browser.find_element(By.NAME, "username").send_keys(INVITEE_EMAIL)
    browser.find_element(By.NAME, "password").send_keys(INVITEE_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for_path(browser, "/2fa/verify/")

    submit_code(browser, setup_code)
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".field.has-error .error"))
    assert path_of(browser) == "/2fa/verify/"
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="dashboard-title"]')
    refused_at = time.monotonic()

    # django-otp accepts only a code from a later time step than the last accepted one.
    deadline = time.monotonic() + 31
    while totp.t() <= setup_step:
        assert time.monotonic() < deadline, "the TOTP time step did not advance"
        time.sleep(0.25)
    # A failed code throttles the device for 1 s (OTP_TOTP_THROTTLE_FACTOR = 1).
    time.sleep(max(0.0, refused_at + 1.5 - time.monotonic()))
    submit_code(browser, totp_code(key, totp.t()))
    wait_for_path(browser, "/")
    title = browser.find_element(By.CSS_SELECTOR, '[data-testid="dashboard-title"]')
    assert title.text == COMPANY_A_NAME

    # --- 5. Language: the browser asks for Chinese; switch to English and back ----------------
    assert html_lang(browser) == "zh-hans"
    Select(browser.find_element(By.ID, "language-select")).select_by_value("en")
    wait(browser, lambda b: html_lang(b) == "en")
    wait_for_path(browser, "/")
    assert "Dashboard" in nav_labels(browser)
    assert "Members" in nav_labels(browser)

    Select(browser.find_element(By.ID, "language-select")).select_by_value("zh-hans")
    wait(browser, lambda b: html_lang(b) == "zh-hans")
    wait_for_path(browser, "/")
    zh_dashboard = _translated("zh-hans", "Dashboard")
    zh_members = _translated("zh-hans", "Members")
    assert zh_dashboard in nav_labels(browser)
    assert zh_members in nav_labels(browser)

    # --- 6. Another company's member and company pages are plain 404s -----------------------
    not_found = _translated("zh-hans", "Not found")
    for path in (
        reverse("portal:member_detail", kwargs={"public_id": b_membership.public_id}),
        reverse("portal:company_detail", kwargs={"public_id": company_b.public_id}),
    ):
        browser.get(live_server.url + path)
        wait(browser, lambda b: b.find_element(By.TAG_NAME, "h1").text == not_found)
        assert browser.title.startswith(not_found)
        source = browser.page_source
        assert B_MEMBER_EMAIL not in source
        assert COMPANY_B_NAME not in source
        assert "owner-b@example.com" not in source

    # --- 7. Screenshots of the dashboard, desktop and phone ---------------------------------
    browser.get(live_server.url + "/")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="dashboard-title"]'))
    screenshot(browser, "journey-invitation-dashboard")
    browser.set_window_size(390, 844)
    wait(browser, lambda b: b.execute_script("return window.innerWidth") <= 400)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the dashboard scrolls sideways on a phone"
    screenshot(browser, "journey-invitation-dashboard-phone")

    # Last, so the rest of the journey runs even before the catalogue is compiled.
    assert zh_dashboard != "Dashboard", (
        "no Chinese translation for 'Dashboard': compile locale/zh_Hans (compilemessages)"
    )
