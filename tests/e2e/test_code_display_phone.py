"""The recipient page on a phone (390 x 844 CSS pixels), in a real browser: no sideways
scrolling, every group of the code on one line, and the copy button puts the code without its
hyphens in the clipboard and says so (static/portal/app.js, templates/cards/_secret.html).

The recipients order is generated in-process (as tests/cards/test_recipients.py does); the
page is served by the live server.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from cards.services import recipients
from tests import factories
from tests.cards import test_recipients as recipient_tests
from tests.e2e.browse import path_of, prefer_english, wait, wait_for_path

# No worker runs during these tests: a shared one started by an earlier test of this process
# would take the deliveries and notices they queue on commit and send them itself.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_celery_worker"),
]

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}

LAYOUT = """
const root = document.documentElement;
const groups = [...document.querySelectorAll('[data-testid="code"] .secret-group')];
const button = document.querySelector('[data-testid="code-copy"]');
const box = button.getBoundingClientRect();
return {
  scrollWidth: root.scrollWidth,
  clientWidth: root.clientWidth,
  innerWidth: window.innerWidth,
  groups: groups.map((g) => g.textContent),
  linesPerGroup: groups.map((g) => g.getClientRects().length),
  groupTops: groups.map((g) => Math.round(g.getBoundingClientRect().top)),
  monospace: getComputedStyle(groups[0]).fontFamily,
  whiteSpace: getComputedStyle(groups[0]).whiteSpace,
  buttonShown: !button.hidden && box.width > 0,
  buttonRight: box.right,
  buttonName: button.getAttribute("aria-label"),
};
"""

READ_CLIPBOARD = """
const done = arguments[arguments.length - 1];
navigator.clipboard.readText().then(done, (error) => done("unreadable: " + error));
"""


@pytest.fixture
def phone(browser: WebDriver) -> WebDriver:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})
    return browser


def _reveal(browser: WebDriver, base: str, token: str) -> None:
    browser.get(f"{base}/r/{token}/")
    wait_for_path(browser, "/r/")
    browser.find_element(By.CSS_SELECTOR, '[data-testid="reveal"]').click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="code"]'))


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_recipient_page_fits_a_phone_and_copies_the_code(
    live_server: Any, phone: WebDriver, mailoutbox: list[Any], settings: Any, language: str
) -> None:
    settings.PORTAL_BASE_URL = recipient_tests.BASE
    settings.ISSUANCE_CHUNK_SIZE = 40
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    shop = recipient_tests.Shop(
        company=company, people=factories.team(company), product=factories.product()
    )
    order = recipient_tests.fulfilled(shop)
    recipients.deliveries_create(order=order)
    recipient_tests.send_pending(order)
    token = recipient_tests.last_email_token(mailoutbox, "xiaoming@example.com")
    card = recipient_tests.delivery_of(order, email="xiaoming@example.com").card
    code = recipient_tests.code_of(card)
    if language == "en":
        prefer_english(phone)  # the browser fixture asks for zh-CN otherwise

    _reveal(phone, live_server.url, token)
    assert path_of(phone) == "/r/"
    layout = phone.execute_script(LAYOUT)
    assert layout["innerWidth"] == 390, layout
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["groups"] == code.split("-")
    assert layout["linesPerGroup"] == [1] * 5, layout  # a group never breaks across lines
    assert layout["whiteSpace"] == "nowrap"
    assert "monospace" in layout["monospace"]
    assert layout["buttonShown"], layout
    assert layout["buttonRight"] <= layout["clientWidth"], layout
    assert layout["buttonName"] == {"en": "Copy the code", "zh-hans": "复制卡密"}[language]

    phone.execute_cdp_cmd(
        "Browser.grantPermissions",
        {
            "origin": live_server.url,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        },
    )
    phone.find_element(By.CSS_SELECTOR, '[data-testid="code-copy"]').click()
    status = phone.find_element(By.CSS_SELECTOR, '[data-testid="code-copy-status"]')
    wait(phone, lambda _b: status.text.strip())
    assert status.get_attribute("aria-live") == "polite"
    copied = phone.find_element(By.CSS_SELECTOR, "[data-copy-button]").get_attribute(
        "data-copied-text"
    )
    assert status.text.strip() == copied, status.text
    phone.set_script_timeout(10)
    assert phone.execute_async_script(READ_CLIPBOARD) == code.replace("-", "")
    # Nothing of the code went into the address.
    assert code.replace("-", "") not in phone.current_url.replace("-", "")
