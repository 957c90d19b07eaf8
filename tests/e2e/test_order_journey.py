"""A credit order from form to invoice, in a real browser.

A purchaser signs in, fills in a two-line order above the company's approval threshold, has the
server calculate the price, adds the real-name registration the total calls for, and saves and
submits it. An approver signs in with a TOTP code, finds the order under Approvals and approves
it; the order page shows it funded with its invoice, the registration only masked, and the
invoice page opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from cards.models import Order, OrderStatus
from portal.models import Role, User
from portal.validators import resident_id_check_character
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPANY_NAME = "Hangzhou Spring Gifts Co., Ltd."
PASSWORD = "correct horse battery staple"  # what tests.factories.member gives everyone
PURCHASER_EMAIL = "buyer@spring.example"
APPROVER_EMAIL = "approver@spring.example"
ID_17 = "33010619800101123"
RESIDENT_ID = ID_17 + resident_id_check_character(ID_17)
WAIT = 20


def _wait(browser: WebDriver, condition: Callable[[Any], Any], timeout: float = WAIT) -> Any:
    # A page that is being replaced can drop an element between finding and reading it.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(browser, timeout, ignored_exceptions=ignored).until(condition)


def _path(browser: WebDriver) -> str:
    return str(browser.execute_script("return window.location.pathname"))


def _wait_for_path(browser: WebDriver, path: str) -> None:
    _wait(browser, lambda b: _path(b) == path)


def _text(browser: WebDriver, testid: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text)


def _click(browser: WebDriver, testid: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').click()


def _nav(browser: WebDriver, label: str) -> None:
    browser.find_element(By.XPATH, f'//nav[@class="nav"]/a[normalize-space()="{label}"]').click()


def _prefer_english(browser: WebDriver) -> None:
    """Send Accept-Language: en, as a browser set to English does (the fixture asks for zh-CN)."""
    user_agent = browser.execute_script("return navigator.userAgent")
    browser.execute_cdp_cmd(
        "Emulation.setUserAgentOverride", {"userAgent": user_agent, "acceptLanguage": "en"}
    )


def _sign_in(browser: WebDriver, base_url: str, email: str) -> None:
    browser.get(base_url + "/login/")
    browser.find_element(By.NAME, "username").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()


def _sign_out(browser: WebDriver) -> None:
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout/'] button[type=submit]").click()
    _wait_for_path(browser, "/login/")


def _fill_line(browser: WebDriver, index: int, product: str, face_value: str, qty: str) -> None:
    Select(browser.find_element(By.NAME, f"lines-{index}-product")).select_by_value(product)
    browser.find_element(By.NAME, f"lines-{index}-face_value").send_keys(face_value)
    browser.find_element(By.NAME, f"lines-{index}-quantity").send_keys(qty)


def test_purchaser_orders_on_credit_and_an_approver_approves_it(
    live_server: Any, browser: WebDriver
) -> None:
    # --- 1. A company with credit terms, a purchaser, and an approver with an authenticator ----
    company = factories.company(COMPANY_NAME, approval_threshold="5000.00")
    factories.credit_line(company, "200000.00", net_days=60)
    product = factories.product()  # Gift card: 100 / 200 / 500 / 1,000, bearer, 36 months
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    approver = factories.member(company, Role.APPROVER, APPROVER_EMAIL)
    device = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    base = live_server.url
    _prefer_english(browser)

    # --- 2. The purchaser opens a new order from the order list --------------------------------
    _sign_in(browser, base, PURCHASER_EMAIL)
    _wait_for_path(browser, "/")
    _nav(browser, "Orders")
    _wait_for_path(browser, "/orders/")
    _click(browser, "new-order")
    _wait_for_path(browser, "/orders/new/")

    # --- 3. Two lines, 13,000 CNY in all; the server calculates the price ----------------------
    _fill_line(browser, 0, str(product.public_id), "500", "10")
    _fill_line(browser, 1, str(product.public_id), "1000", "8")
    browser.find_element(By.NAME, "client_reference").send_keys("HR-2026-SPRING")
    _click(browser, "calculate")
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="price-summary"]'))
    assert _path(browser) == "/orders/new/"
    assert not Order.objects.exists(), "calculating the price saved the order"
    amounts = [
        e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="line-amount"]')
    ]
    assert amounts[:2] == ["¥5,000.00", "¥8,000.00"]
    assert _text(browser, "price-total") == "¥13,000.00"
    # 13,000 CNY is over 10,000: the page asks for the real-name registration.
    assert "real-name purchase registration" in _text(browser, "registration-needed")
    browser.execute_script("document.querySelector('[data-testid=\"lines\"]').scrollIntoView()")
    assert browser.save_screenshot("/tmp/e2e-order-form.png")

    # --- 4. Registration filled in; save and submit --------------------------------------------
    browser.find_element(By.NAME, "agent_name").send_keys("Li Lei")
    Select(browser.find_element(By.NAME, "id_type")).select_by_value("resident_id")
    browser.find_element(By.NAME, "id_number").send_keys(RESIDENT_ID)
    browser.find_element(By.NAME, "contact_phone").send_keys("13800138000")
    _click(browser, "save-submit")
    _wait(browser, lambda b: _path(b).startswith("/orders/PO"))
    order = Order.objects.get(company=company)
    assert _path(browser) == f"/orders/{order.number}/"
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert _text(browser, "order-status") == "Waiting for approval"
    assert (
        "It waits for one of your company's approvers."
        in browser.find_element(By.CSS_SELECTOR, ".messages").text
    )
    # The purchaser cannot approve: there is no such button for them.
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="approve"]')
    _sign_out(browser)

    # --- 5. The approver signs in with a TOTP code -----------------------------------------------
    _sign_in(browser, base, APPROVER_EMAIL)
    _wait_for_path(browser, "/2fa/verify/")
    key = device.bin_key
    token = browser.find_element(By.NAME, "token")
    token.send_keys(f"{hotp(key, TOTP(key).t(), digits=6):06d}")
    token.submit()
    _wait_for_path(browser, "/")

    # --- 6. Approvals lists the order; the approver opens it and approves ---------------------
    _nav(browser, "Approvals")
    _wait_for_path(browser, "/approvals/")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="own-order"]')
    browser.find_element(By.LINK_TEXT, order.number).click()
    _wait_for_path(browser, f"/orders/{order.number}/")
    assert _text(browser, "order-total") == "¥13,000.00"
    _click(browser, "approve")
    _wait(
        browser,
        lambda b: _text(b, "order-status") in ("Funded", "Generating cards", "Cards ready"),
    )

    # --- 7. Funded on credit: the invoice is there, the ID number only masked -----------------
    # (a worker may already have moved it on to generating, or generated its 130 cards)
    order.refresh_from_db()
    assert order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING, OrderStatus.FULFILLED)
    assert order.invoice is not None
    invoice_number = order.invoice.number
    assert (
        f"Order {order.number} approved." in browser.find_element(By.CSS_SELECTOR, ".messages").text
    )
    links = browser.find_elements(By.CSS_SELECTOR, '[data-testid="invoice-link"]')
    assert [link.text for link in links] == [invoice_number]
    history = _text(browser, "history")
    assert "Submitted an order" in history
    assert "Approved an order" in history
    assert APPROVER_EMAIL in history
    assert order.registration is not None
    assert order.registration.id_number_masked in _text(browser, "registration")
    assert RESIDENT_ID not in browser.page_source
    assert browser.save_screenshot("/tmp/e2e-order.png")

    # --- 8. The invoice page opens -------------------------------------------------------------
    links[0].click()
    _wait_for_path(browser, f"/invoices/{invoice_number}/")
    assert invoice_number in browser.find_element(By.TAG_NAME, "main").text
    assert COMPANY_NAME in browser.find_element(By.TAG_NAME, "main").text

    # --- 9. On a phone, the order page does not scroll sideways --------------------------------
    browser.get(f"{base}/orders/{order.number}/")
    browser.set_window_size(390, 844)
    _wait(browser, lambda b: b.execute_script("return window.innerWidth") <= 400)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the order page scrolls sideways on a phone"
    assert browser.save_screenshot("/tmp/e2e-order-phone.png")
    assert User.objects.get(email=APPROVER_EMAIL).pk == order.approved_by_id
