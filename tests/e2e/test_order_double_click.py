"""A double click on "Save and submit" makes one order, in a real browser (issue 11, defect 12).

The page locks its buttons once the form is sent (static/portal/app.js), so the second click
sends nothing (htmx's live previews on the same page never take that lock); had it been sent,
the form's one-time token would have landed it on the same order with a "this form was already
sent" message, which the page does not show.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

import cards.views.order_form
from cards.models import Order
from portal.models import Role
from tests import factories
from tests.e2e.browse import path_of, prefer_english, sign_in, wait, wait_for_path
from tests.e2e.test_order_form_live import fill_line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PURCHASER_EMAIL = "double@click.example"


def test_double_clicking_save_and_submit_makes_one_order(
    live_server: Any, browser: WebDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live server answers in a few milliseconds; a real one under load takes longer, and a
    # person's second click lands while the first post is still running. Make it so here.
    order_create = cards.views.order_form.order_create

    def slow_order_create(**kwargs: Any) -> Order:
        time.sleep(0.5)
        return order_create(**kwargs)

    monkeypatch.setattr(cards.views.order_form, "order_create", slow_order_create)
    company = factories.company("Double Click Trading Co., Ltd.", approval_threshold="5000.00")
    factories.credit_line(company, "100000.00")
    product = factories.product()
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    prefer_english(browser)
    sign_in(browser, live_server.url, PURCHASER_EMAIL)
    wait_for_path(browser, "/")
    browser.get(live_server.url + "/orders/new/")
    # With htmx in the page: the face-value select swapped in, and a live preview of the price
    # (which neither saves nor locks the form) before the double click.
    assert browser.execute_script("return typeof window.htmx") == "object"
    fill_line(browser, 0, product, "100", "3")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="price-total"]'))
    assert not Order.objects.exists()
    form = browser.find_element(By.CSS_SELECTOR, "form[data-submit-once]")
    assert form.get_attribute("data-submitting") is None

    button = browser.find_element(By.CSS_SELECTOR, '[data-testid="save-submit"]')
    # A person's double click: two clicks 150 ms apart. In the page, not through the driver:
    # chromedriver waits for the navigation a click starts before it clicks again.
    browser.execute_script(
        "const button = arguments[0]; button.click(); setTimeout(() => button.click(), 150);",
        button,
    )

    wait(browser, lambda b: path_of(b).startswith("/orders/PO"))
    time.sleep(1.5)  # a second post, had one been sent, would be done by now
    order = Order.objects.get(company=company)
    assert path_of(browser) == f"/orders/{order.number}/"
    assert "already sent" not in browser.find_element(By.TAG_NAME, "main").text
