"""The order form as a buyer types, in a real browser (issue 14, point 4).

Choosing a product swaps in the face-value field that fits it (a select of a list, a number
with the bounds and step of a range); typing quantities updates each line's amount, the total
and the credit check without a button pressed and without saving; then "Save and submit" makes
one order. A preview still in flight does not hold back the real submit, and previews never
set the form's submit lock. Screenshots at 1366 and 390 px go to var/screenshots/.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

import cards.views.order_live
from cards.models import Order, OrderStatus
from cards.services.orders import LinesPreview
from portal.models import Role
from tests import factories
from tests.e2e.browse import (
    choose_product,
    face_value_field,
    fill_line,
    path_of,
    prefer_english,
    sign_in,
    wait,
    wait_for_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PURCHASER_EMAIL = "live@form.example"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


def text(browser: WebDriver, testid: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text)


def shown(browser: WebDriver, testid: str) -> bool:
    return bool(browser.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]'))


def screenshot(browser: WebDriver, name: str, width: int, at: str = "#order-lines") -> None:
    browser.set_window_size(width, 900)
    browser.execute_script("document.querySelector(arguments[0]).scrollIntoView()", at)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / f"order-form-{name}-{width}.png"))
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"


def test_the_price_and_the_credit_check_follow_the_lines_as_they_are_typed(
    live_server: Any, browser: WebDriver
) -> None:
    company = factories.company("Live Form Trading Co., Ltd.", approval_threshold="5000.00")
    factories.credit_line(company, "10000.00")
    listed = factories.product()  # 100 / 200 / 500 / 1,000
    ranged = factories.product(name="任意面值卡", face_min="50", face_max="1000", face_step="50")
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    prefer_english(browser)
    sign_in(browser, live_server.url, PURCHASER_EMAIL)
    wait_for_path(browser, "/")
    browser.set_window_size(1366, 900)
    browser.get(live_server.url + "/orders/new/")
    assert browser.execute_script("return typeof window.htmx") == "object"
    # Under the site's CSP: no eval, no style element of htmx's own.
    config = "return [htmx.config.allowEval, htmx.config.includeIndicatorStyles]"
    assert browser.execute_script(config) == [False, False]
    assert browser.execute_script("return document.querySelectorAll('style').length") == 0

    # A product with a list: its values in a select, the bearer card's cap next to it.
    choose_product(browser, 0, listed)
    values = Select(face_value_field(browser, 0, "select"))
    assert [o.get_attribute("value") for o in values.options] == ["", "100", "200", "500", "1000"]
    assert "at most ¥1,000.00 a card" in text(browser, "face-value-help")
    values.select_by_value("500")
    browser.find_element(By.NAME, "lines-0-quantity").send_keys("4")
    wait(browser, lambda b: shown(b, "price-total") and text(b, "price-total") == "¥2,000.00")
    assert text(browser, "total") == "¥2,000.00"
    assert not shown(browser, "credit-warning")

    # A product with a range: a number with its bounds and step, keeping the value typed
    # before the product was chosen.
    browser.find_element(By.CSS_SELECTOR, 'input[type=text][name="lines-1-face_value"]').send_keys(
        "1000"
    )
    choose_product(browser, 1, ranged)
    number = face_value_field(browser, 1, "input[type=number]")
    bounds = [number.get_attribute(name) for name in ("min", "max", "step")]
    assert bounds == ["50", "1000", "50"]
    assert number.get_attribute("value") == "1000"
    browser.find_element(By.NAME, "lines-1-quantity").send_keys("9")

    # 11,000 CNY: over the 10,000 of credit, and over the registration threshold.
    wait(browser, lambda b: text(b, "price-total") == "¥11,000.00")
    amounts = [
        e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="line-amount"]')
    ]
    assert amounts[:2] == ["¥2,000.00", "¥9,000.00"]
    assert text(browser, "card-count") == "13"
    numbers = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.line-number")]
    assert numbers[:3] == ["1", "2", ""]
    assert text(browser, "available-credit") == "¥10,000.00"
    assert "more than your available credit" in text(browser, "credit-warning")
    assert "real-name purchase registration" in text(browser, "registration-needed")
    assert path_of(browser) == "/orders/new/"
    assert not Order.objects.exists(), "a preview saved an order"
    form_state = "return document.querySelector('[data-submit-once]').dataset.submitting"
    assert browser.execute_script(form_state) is None, "a preview locked the form"
    screenshot(browser, "live", 1366)
    screenshot(browser, "live", 390)
    screenshot(browser, "price", 390, at="#price-panel")
    screenshot(browser, "top", 390, at="h1")
    browser.set_window_size(1366, 900)

    # Fewer cards: within the credit; the warning goes.
    quantity = browser.find_element(By.NAME, "lines-1-quantity")
    quantity.clear()
    quantity.send_keys("5")
    wait(browser, lambda b: text(b, "price-total") == "¥7,000.00")
    assert not shown(browser, "credit-warning")
    assert not shown(browser, "registration-needed")
    assert not Order.objects.exists()

    browser.find_element(By.CSS_SELECTOR, '[data-testid="save-submit"]').click()
    wait(browser, lambda b: path_of(b).startswith("/orders/PO"))
    order = Order.objects.get(company=company)
    assert path_of(browser) == f"/orders/{order.number}/"
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.total == 7000


def test_a_preview_in_flight_does_not_hold_back_the_submit(
    live_server: Any, browser: WebDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    preview = cards.views.order_live.order_lines_preview

    def slow_preview(**kwargs: Any) -> LinesPreview:
        time.sleep(1.5)
        return preview(**kwargs)

    monkeypatch.setattr(cards.views.order_live, "order_lines_preview", slow_preview)
    posted: list[set[str]] = []
    build_page = cards.views.order_live.build_page

    def recording_build_page(company: Any, order: Any, data: Any) -> Any:
        posted.append(set(data))
        return build_page(company, order, data)

    monkeypatch.setattr(cards.views.order_live, "build_page", recording_build_page)
    company = factories.company("Busy Preview Co., Ltd.", approval_threshold="50000.00")
    factories.credit_line(company, "100000.00")
    product = factories.product()
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    prefer_english(browser)
    sign_in(browser, live_server.url, PURCHASER_EMAIL)
    wait_for_path(browser, "/")
    browser.get(live_server.url + "/orders/new/")
    fill_line(browser, 0, product, "100", "3")

    # The preview's wait is over, its request is on its way: submit now.
    panel = browser.find_element(By.ID, "price-panel")
    wait(browser, lambda b: "htmx-request" in (panel.get_attribute("class") or ""))
    browser.find_element(By.CSS_SELECTOR, '[data-testid="save-submit"]').click()

    wait(browser, lambda b: path_of(b).startswith("/orders/PO"))
    order = Order.objects.get(company=company)
    assert order.status != OrderStatus.DRAFT
    assert Order.objects.filter(company=company).count() == 1
    # The previews carried the lines, never the real-name registration.
    assert posted
    assert all("lines-0-quantity" in keys and "id_number" not in keys for keys in posted)


def test_the_live_form_in_chinese_at_desktop_and_phone_width(
    live_server: Any, browser: WebDriver
) -> None:
    company = factories.company("杭州春风礼品有限公司", approval_threshold="5000.00")
    factories.credit_line(company, "10000.00")
    listed = factories.product()
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    sign_in(browser, live_server.url, PURCHASER_EMAIL)  # the browser asks for Chinese
    wait_for_path(browser, "/")
    browser.set_window_size(1366, 900)
    browser.get(live_server.url + "/orders/new/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"

    fill_line(browser, 0, listed, "1000", "12")

    wait(browser, lambda b: shown(b, "price-total") and text(b, "price-total") == "¥12,000.00")
    assert shown(browser, "credit-warning")
    assert not Order.objects.exists()
    for width in (1366, 390):
        screenshot(browser, "zh-live", width)
        screenshot(browser, "zh-price", width, at="#price-panel")


def test_a_face_value_typed_while_the_field_is_on_its_way_is_kept(
    live_server: Any, browser: WebDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_form = cards.views.order_live.LineForm

    def slow_line_form(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return line_form(*args, **kwargs)

    monkeypatch.setattr(cards.views.order_live, "LineForm", slow_line_form)
    company = factories.company("Quick Typist Co., Ltd.")
    factories.credit_line(company, "100000.00")
    listed = factories.product()
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    prefer_english(browser)
    sign_in(browser, live_server.url, PURCHASER_EMAIL)
    wait_for_path(browser, "/")
    browser.get(live_server.url + "/orders/new/")

    choose_product(browser, 0, listed)
    # The select is still on its way: the buyer types into the field there is.
    browser.find_element(By.CSS_SELECTOR, 'input[name="lines-0-face_value"]').send_keys("500")

    select = Select(face_value_field(browser, 0, "select"))
    assert select.first_selected_option.get_attribute("value") == "500"


def test_a_line_marked_wrong_by_the_server_is_cleared_once_the_live_price_prices_it(
    live_server: Any, browser: WebDriver
) -> None:
    company = factories.company("Second Try Co., Ltd.")
    factories.credit_line(company, "100000.00")
    listed = factories.product()
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    prefer_english(browser)
    sign_in(browser, live_server.url, PURCHASER_EMAIL)
    wait_for_path(browser, "/")
    browser.get(live_server.url + "/orders/new/")
    fill_line(browser, 0, listed, "200", "0")
    browser.find_element(By.CSS_SELECTOR, '[data-testid="calculate"]').click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "tr.line.has-error"))
    assert browser.find_element(By.CSS_SELECTOR, "tr.line-errors").is_displayed()

    quantity = browser.find_element(By.NAME, "lines-0-quantity")
    quantity.clear()
    quantity.send_keys("2")

    wait(browser, lambda b: shown(b, "price-total") and text(b, "price-total") == "¥400.00")
    wait(browser, lambda b: not b.find_elements(By.CSS_SELECTOR, "tr.line.has-error"))
    assert not browser.find_element(By.CSS_SELECTOR, "tr.line-errors").is_displayed()
    assert not Order.objects.exists()
