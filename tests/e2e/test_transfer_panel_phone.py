"""A pro-forma order's transfer details on a phone (390 CSS pixels), in a real browser: the panel
fits, no account-number group or reference breaks across lines, and the copy buttons put the
raw values in the clipboard (the account number without its reading spaces, the amount without
its currency sign). templates/cards/order_detail.html, cards/templatetags/secret_tags.py
(``copy_value``), static/portal/app.js."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from cards.models import OrderStatus, PaymentMethod
from cards.services.workflow import order_approve, order_submit
from portal.models import Role
from tests import factories
from tests.conftest import sign_in
from tests.e2e.browse import prefer_english, wait
from tests.e2e.test_code_display_phone import PHONE, READ_CLIPBOARD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUT = """
const root = document.documentElement;
const panel = document.querySelector('[data-testid="transfer-panel"]');
const groups = [...panel.querySelectorAll('.secret-group')];
return {
  scrollWidth: root.scrollWidth,
  clientWidth: root.clientWidth,
  panelRight: panel.getBoundingClientRect().right,
  linesPerGroup: groups.map((g) => g.getClientRects().length),
  groups: groups.map((g) => g.textContent),
  buttons: [...panel.querySelectorAll('[data-copy-button]')].map((b) => !b.hidden),
};
"""


def _status_of(testid: str) -> Callable[[WebDriver], str]:
    """What the copy button of ``testid`` says in its status (empty until it has copied)."""

    def said(browser: WebDriver) -> str:
        selector = f'[data-testid="{testid}-copy-status"]'
        return str(browser.find_element(By.CSS_SELECTOR, selector).text).strip()

    return said


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_transfer_details_fit_a_phone_and_copy_raw_values(
    live_server: Any, browser: WebDriver, settings: Any, language: str
) -> None:
    settings.PLATFORM_BANK_ACCOUNT = "6214 8312 3456 7890 123"
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="100.00")
    purchaser = factories.member(company, Role.PURCHASER)
    approver = factories.member(company, Role.APPROVER)
    order = factories.draft(company, purchaser, payment_method=PaymentMethod.BANK_TRANSFER)
    order = order_approve(order=order_submit(order=order, actor=purchaser), actor=approver)
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert order.proforma is not None
    reference = order.proforma.payment_reference

    client = Client()
    sign_in(client, purchaser, second_factor=False)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    if language == "en":
        prefer_english(browser)
    browser.get(live_server.url + "/login/")
    browser.add_cookie(
        {
            "name": django_settings.SESSION_COOKIE_NAME,
            "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
            "path": "/",
        }
    )
    browser.get(f"{live_server.url}/orders/{order.number}/")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="transfer-panel"]'))

    layout = browser.execute_script(LAYOUT)
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["panelRight"] <= layout["clientWidth"], layout
    assert layout["linesPerGroup"] == [1] * len(layout["groups"]), layout
    assert reference in layout["groups"]
    assert "6214" in layout["groups"]
    assert layout["buttons"] == [True] * 5, layout

    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {
            "origin": live_server.url,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        },
    )
    browser.set_script_timeout(10)
    for testid, expected in (
        ("transfer-account", "6214831234567890123"),
        ("transfer-reference", reference),
        ("transfer-amount", str(order.proforma.total)),
    ):
        browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}-copy"]').click()
        wait(browser, _status_of(testid))
        assert browser.execute_async_script(READ_CLIPBOARD) == expected
