"""The operator console in a real browser, at desktop and phone width, in both languages: the
queues, the charts and their tables are drawn, nothing overflows the page sideways at 390 px,
and a screenshot of each is saved under ``var/screens/console/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from cards.services.spend import merchant_key_freeze
from portal.models import Company
from tests import factories
from tests.cards import card_service_data as shop_data
from tests.cards.spend.helpers import merchant_key
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens" / "console"
WIDTHS = (1366, 390)


def _books() -> None:
    shop = shop_data.shop()
    cards = shop_data.cards_of(shop_data.issue(shop, face_value="500", quantity=4))
    for n, card in enumerate(cards):
        shop_data.redeem(card, shop_data.merchant(f"上海第{n + 1}百货商店"), f"{(n + 1) * 40}.00")
    factories.company("苏州春风礼品有限公司", status=Company.Status.PENDING)
    key, _secret = merchant_key()
    merchant_key_freeze(key_id=key.pk, reason="failure-burst")


def _sign_in_browser(browser: WebDriver, live_server: Any, language: str) -> None:
    ops = factories.operator()
    ops.is_superuser = True
    ops.save(update_fields=["is_superuser"])
    client = Client()
    sign_in(client, ops, second_factor=True)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    browser.get(f"{live_server.url}/healthz")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": cookie.value})
    browser.add_cookie({"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language})


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_console_draws_its_queues_and_charts_and_fits_a_phone(
    live_server: Any, browser: WebDriver, language: str
) -> None:
    _books()
    _sign_in_browser(browser, live_server, language)
    for width in WIDTHS:
        browser.set_window_size(width, 900)
        browser.get(f"{live_server.url}/ops/")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, min(int(height) + 120, 9000))
        SCREENS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENS / f"console-{language}-{width}.png"))
        due = browser.find_elements(By.CSS_SELECTOR, ".console-queue-due")
        assert {element.get_attribute("data-testid") for element in due} == {
            "queue-kyc",
            "queue-frozen_keys",
        }
        assert browser.find_elements(By.CSS_SELECTOR, "[data-testid='chart-console-merchants'] svg")
        assert len(browser.find_elements(By.CSS_SELECTOR, "table.console-table")) == 4
        if width == 390:
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert int(overflow) <= 0, "the console overflows at 390 px"
