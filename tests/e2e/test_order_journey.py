"""A credit order from form to invoice, in a real browser.

A purchaser signs in, fills in a two-line order above the company's approval threshold, has the
server calculate the price, adds the real-name registration the total calls for, and saves and
submits it. An approver signs in with a TOTP code, finds the order under Approvals and approves
it; the order page shows it funded with its invoice, the registration only masked, and the
invoice page opens.
"""

from __future__ import annotations

from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from cards.models import Order, OrderStatus
from portal.models import Role, User
from portal.validators import resident_id_check_character
from tests import factories
from tests.e2e.browse import (
    click,
    fill_line,
    nav_to,
    path_of,
    prefer_english,
    screenshot,
    sign_in,
    sign_out,
    submit_code,
    text,
    totp_code,
    wait,
    wait_for_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPANY_NAME = "Hangzhou Spring Gifts Co., Ltd."
PURCHASER_EMAIL = "buyer@spring.example"
APPROVER_EMAIL = "approver@spring.example"
ID_17 = "33010619800101123"
RESIDENT_ID = ID_17 + resident_id_check_character(ID_17)


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
    prefer_english(browser)

    # --- 2. The purchaser opens a new order from the order list --------------------------------
    sign_in(browser, base, PURCHASER_EMAIL)
    wait_for_path(browser, "/")
    nav_to(browser, "orders")
    wait_for_path(browser, "/orders/")
    click(browser, "new-order")
    wait_for_path(browser, "/orders/new/")

    # --- 3. Two lines, 13,000 CNY in all; the server calculates the price ----------------------
    fill_line(browser, 0, product, "500", "10")
    fill_line(browser, 1, product, "1000", "8")
    browser.find_element(By.NAME, "client_reference").send_keys("HR-2026-SPRING")
    click(browser, "calculate")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="price-summary"]'))
    assert path_of(browser) == "/orders/new/"
    assert not Order.objects.exists(), "calculating the price saved the order"
    amounts = [
        e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="line-amount"]')
    ]
    assert amounts[:2] == ["¥5,000.00", "¥8,000.00"]
    assert text(browser, "price-total") == "¥13,000.00"
    # 13,000 CNY is over 10,000: the page asks for the real-name registration.
    assert "real-name purchase registration" in text(browser, "registration-needed")
    browser.execute_script("document.querySelector('[data-testid=\"lines\"]').scrollIntoView()")
    screenshot(browser, "journey-order-form")

    # --- 4. Registration filled in; save and submit --------------------------------------------
    browser.find_element(By.NAME, "agent_name").send_keys("Li Lei")
    Select(browser.find_element(By.NAME, "id_type")).select_by_value("resident_id")
    browser.find_element(By.NAME, "id_number").send_keys(RESIDENT_ID)
    browser.find_element(By.NAME, "contact_phone").send_keys("13800138000")
    click(browser, "save-submit")
    wait(browser, lambda b: path_of(b).startswith("/orders/PO"))
    order = Order.objects.get(company=company)
    assert path_of(browser) == f"/orders/{order.number}/"
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert text(browser, "order-status") == "Waiting for approval"
    assert (
        "It waits for one of your company's approvers."
        in browser.find_element(By.CSS_SELECTOR, ".messages").text
    )
    # The purchaser cannot approve: there is no such button for them.
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="approve"]')
    sign_out(browser)

    # --- 5. The approver signs in with a TOTP code -----------------------------------------------
    sign_in(browser, base, APPROVER_EMAIL)
    wait_for_path(browser, "/2fa/verify/")
    submit_code(browser, totp_code(device.bin_key))
    wait_for_path(browser, "/")

    # --- 6. Approvals lists the order; the approver opens it and approves ---------------------
    nav_to(browser, "approvals")
    wait_for_path(browser, "/approvals/")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="own-order"]')
    browser.find_element(By.LINK_TEXT, order.number).click()
    wait_for_path(browser, f"/orders/{order.number}/")
    assert text(browser, "order-total") == "¥13,000.00"
    click(browser, "approve")
    wait(
        browser,
        lambda b: text(b, "order-status") in ("Funded", "Generating cards", "Cards ready"),
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
    history = text(browser, "history")
    assert "Submitted an order" in history
    assert "Approved an order" in history
    assert APPROVER_EMAIL in history
    assert order.registration is not None
    assert order.registration.id_number_masked in text(browser, "registration")
    assert RESIDENT_ID not in browser.page_source
    screenshot(browser, "journey-order")

    # --- 8. The invoice page opens -------------------------------------------------------------
    links[0].click()
    wait_for_path(browser, f"/invoices/{invoice_number}/")
    assert invoice_number in browser.find_element(By.TAG_NAME, "main").text
    assert COMPANY_NAME in browser.find_element(By.TAG_NAME, "main").text

    # --- 9. On a phone, the order page does not scroll sideways --------------------------------
    browser.get(f"{base}/orders/{order.number}/")
    browser.set_window_size(390, 844)
    wait(browser, lambda b: b.execute_script("return window.innerWidth") <= 400)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the order page scrolls sideways on a phone"
    screenshot(browser, "journey-order-phone")
    assert User.objects.get(email=APPROVER_EMAIL).pk == order.approved_by_id
