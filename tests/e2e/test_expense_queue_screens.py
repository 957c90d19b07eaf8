"""The exception queue and the period page in a real browser, at desktop and phone width:
nothing overflows the page sideways at 390 px, and a screenshot of each is saved under
``var/screens/expenses/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from expenses.models import LineState
from portal.models import Role
from tests.conftest import sign_in
from tests.expenses.resolution_data import books

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens" / "expenses"
WIDTHS = (1366, 390)


def _sign_in_browser(browser: WebDriver, live_server: Any, user: Any) -> None:
    client = Client()
    sign_in(client, user, second_factor=True)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    browser.get(f"{live_server.url}/healthz")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": cookie.value})


def _overflow(browser: WebDriver) -> int:
    return int(
        browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def _screens(browser: WebDriver, live_server: Any, path: str, name: str, language: str) -> None:
    for width in WIDTHS:
        browser.set_window_size(width, 900)
        browser.get(f"{live_server.url}{path}")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, min(int(height) + 120, 6000))
        SCREENS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENS / f"{name}-{language}-{width}.png"))
        if width == 390:
            assert _overflow(browser) <= 0, f"{path} overflows at 390 px"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_queue_and_the_period_fit_a_phone(
    live_server: Any, browser: WebDriver, settings: Any, tmp_path: Any, language: str
) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 10
    settings.MEDIA_ROOT = str(tmp_path)
    acme = books()
    tx = acme.spend("E001", "80.00", ref="POS-2026-000123")
    acme.spend("E001", "45.50")
    original = acme.line("50.00", report="EXP-2026-0001", fapiao_number="04400123")
    acme.line("88.00", state=LineState.AMOUNT_DIFFERS, matched=[(tx, "80.00")])
    acme.line(
        "50.00",
        state=LineState.DUPLICATE,
        employee="E002",
        duplicate_of=original,
        fapiao_number="04400123",
    )
    acme.line("45.50", state=LineState.NO_SPEND, description="出租车 浦东机场 → 公司")
    month = f"{acme.period().month:%Y-%m}"
    _sign_in_browser(browser, live_server, acme.people[Role.FINANCE])
    browser.add_cookie({"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language})

    _screens(browser, live_server, f"/expenses/periods/{month}/exceptions/", "queue", language)
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-testid='exception-row']")) == 3
    _screens(browser, live_server, f"/expenses/periods/{month}/", "period", language)
    _screens(browser, live_server, "/", "dashboard", language)
