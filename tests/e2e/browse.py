"""What every browser journey does with the page: wait for it, read it, click in it, sign in,
move through the menu. One copy, so that a fix (such as the transient errors below) reaches
every journey.

Waits poll a condition; while a page is being replaced, Chromium can drop the element between
finding and reading it, which Selenium reports as a stale element, or, when the page is swapped
under the DevTools call itself, as a plain ``WebDriverException`` ("Node with given id does not
belong to the document", "no such execution context"). Those are retried until the wait's limit;
any other error fails at once.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

PASSWORD = "correct horse battery staple"  # what tests.factories.member gives everyone
WAIT = 20.0

# What Chromium says when the document a command was reading was replaced under it.
TRANSIENT_MESSAGES = (
    "does not belong to the document",
    "is detached",
    "detached from the document",
    "no such execution context",
    "cannot find context with specified id",
)


def is_transient(error: WebDriverException) -> bool:
    """Whether ``error`` says only that the page changed under the command (retry it)."""
    if isinstance(error, (NoSuchElementException, StaleElementReferenceException)):
        return True
    message = (error.msg or str(error)).lower()
    return any(text in message for text in TRANSIENT_MESSAGES)


def wait(
    browser: WebDriver,
    condition: Callable[[WebDriver], Any],
    timeout: float = WAIT,
    *,
    ignoring: tuple[type[WebDriverException], ...] = (),
) -> Any:
    """Poll ``condition`` until it returns something true, and return that. Transient errors
    (see the module's docstring) and those in ``ignoring`` count as "not yet"; any other
    error is raised at once."""
    last_error: WebDriverException | None = None

    def attempt(driver: WebDriver) -> Any:
        nonlocal last_error
        try:
            return condition(driver)
        except WebDriverException as error:
            if isinstance(error, TimeoutException) or not (
                is_transient(error) or isinstance(error, ignoring)
            ):
                raise
            last_error = error
            return False

    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1).until(attempt)
    except TimeoutException as error:
        raise TimeoutException(
            f"gave up after {timeout:.0f} s on {path_of(browser)}"
            + (f"; last error: {last_error.msg}" if last_error else "")
        ) from error


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll a condition outside the browser (the database, a file) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def path_of(browser: WebDriver) -> str:
    """The path of the page the browser shows."""
    return str(browser.execute_script("return window.location.pathname"))


def wait_for_path(
    browser: WebDriver, expected: str | Callable[[str], bool], timeout: float = WAIT
) -> None:
    """Wait until the browser shows ``expected`` (a path, or a test of the path)."""
    if isinstance(expected, str):
        wanted = expected
        wait(browser, lambda b: path_of(b) == wanted, timeout)
    else:
        test = expected
        wait(browser, lambda b: test(path_of(b)), timeout)


def find(browser: WebDriver, testid: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def text(browser: WebDriver, testid: str) -> str:
    return str(find(browser, testid).text)


def click(browser: WebDriver, testid: str) -> None:
    find(browser, testid).click()


def has(browser: WebDriver, css: str) -> bool:
    """Whether the page holds an element matching ``css`` (without the implicit wait)."""
    return bool(browser.execute_script("return !!document.querySelector(arguments[0])", css))


# --- Language ------------------------------------------------------------------------------------


def prefer_language(browser: WebDriver, accept_language: str) -> None:
    """Send this Accept-Language from now on. Headless Chromium ignores ``--lang`` and its
    preference in some versions, so the header is set through DevTools."""
    user_agent = browser.execute_script("return navigator.userAgent")
    browser.execute_cdp_cmd(
        "Emulation.setUserAgentOverride",
        {"userAgent": user_agent, "acceptLanguage": accept_language},
    )


def prefer_english(browser: WebDriver) -> None:
    """Send Accept-Language: en, as a browser set to English does (the fixture asks for zh-CN)."""
    prefer_language(browser, "en")


def prefer_chinese(browser: WebDriver) -> None:
    """Send Accept-Language: zh-CN like a browser in China."""
    prefer_language(browser, "zh-CN,zh")


def html_lang(browser: WebDriver) -> str:
    return str(browser.execute_script("return document.documentElement.lang"))


# --- Signing in ----------------------------------------------------------------------------------


def totp_code(key: bytes, step: int | None = None) -> str:
    """The six digits of one TOTP time step (now, unless ``step`` is given). Read the step once
    and pass it when the test needs it again: reading the step and the code separately could
    straddle two steps."""
    return f"{hotp(key, TOTP(key).t() if step is None else step, digits=6):06d}"


def submit_code(browser: WebDriver, code: str) -> None:
    field = browser.find_element(By.NAME, "token")
    field.clear()
    field.send_keys(code)
    field.submit()


def sign_in(
    browser: WebDriver,
    base_url: str,
    email: str,
    password: str = PASSWORD,
    *,
    device: TOTPDevice | None = None,
) -> None:
    """Sign in on the login page; with ``device``, also pass the second factor with its current
    code. Returns once the dashboard (or the page a second factor leads to) is shown."""
    browser.get(base_url + "/login/")
    browser.find_element(By.NAME, "username").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    if device is not None:
        wait_for_path(browser, "/2fa/verify/")
        submit_code(browser, totp_code(device.bin_key))
        wait_for_path(browser, "/")


def sign_out(browser: WebDriver) -> None:
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout/'] button[type=submit]").click()
    wait_for_path(browser, "/login/")


# --- The menu ------------------------------------------------------------------------------------

MENU_BUTTON = '[data-testid="menu-button"]'


def nav_link(browser: WebDriver, key: str) -> WebElement | None:
    """The menu's shown link to the page ``key`` (dashboard, orders, cards, catalog, approvals,
    uploads, invoices, payments, statements, aging, members, api_keys, audit, security), if
    one is shown (a menu may be folded, or drawn twice: a sidebar and a phone drawer)."""
    for link in browser.find_elements(By.CSS_SELECTOR, f'a[data-nav="{key}"]'):
        if link.is_displayed():
            return link
    return None


def nav_keys(browser: WebDriver) -> list[str]:
    """The keys of the pages the menu offers, in its order."""
    return [
        str(key)
        for key in browser.execute_script(
            "return [...document.querySelectorAll('a[data-nav]')].map((a) => a.dataset.nav)"
        )
    ]


def nav_labels(browser: WebDriver) -> list[str]:
    """The menu's labels, whether or not the menu is open (a phone keeps it behind a button)."""
    return [
        " ".join(str(label).split())
        for label in browser.execute_script(
            "return [...document.querySelectorAll('a[data-nav]')].map((a) => a.textContent)"
        )
    ]


def menu_open(browser: WebDriver) -> None:
    """Open the phone menu if it is closed (does nothing where the menu is always shown)."""
    buttons = [b for b in browser.find_elements(By.CSS_SELECTOR, MENU_BUTTON) if b.is_displayed()]
    links = browser.find_elements(By.CSS_SELECTOR, "a[data-nav]")
    if buttons and not any(link.is_displayed() for link in links):
        buttons[0].click()
        wait(browser, lambda b: any(link.is_displayed() for link in links))


def nav_to(browser: WebDriver, key: str) -> None:
    """Follow the menu's link to the page ``key``, as a person would: on a narrow window the
    menu is behind a button, and a group of the menu may be folded."""
    if not has(browser, f'a[data-nav="{key}"]'):
        raise NoSuchElementException(f"the menu has no link to {key!r} on {path_of(browser)}")
    link = nav_link(browser, key)
    if link is None:
        menu_open(browser)
        link = nav_link(browser, key)
    if link is None:
        # A folded group of the menu (<details>): open it.
        browser.execute_script(
            "for (const a of document.querySelectorAll(arguments[0]))"
            " for (let d = a.closest('details'); d; d = d.parentElement.closest('details'))"
            " d.open = true;",
            f'a[data-nav="{key}"]',
        )
        link = wait(browser, lambda b: nav_link(b, key))
    page = browser.find_element(By.TAG_NAME, "html")
    link.click()
    wait(browser, staleness_of(page))


# --- Window and screenshots ---------------------------------------------------------------------

# Taller pages are cut here in full-page screenshots (a long list would make a huge image).
SCREENSHOT_MAX_HEIGHT = 5000


def set_viewport(browser: WebDriver, width: int, height: int, *, phone: bool = False) -> None:
    """Lay pages out in a window of exactly ``width`` x ``height`` CSS pixels (through DevTools:
    a headless window's outer size does not fix its inner size), until changed again. A
    ``phone``'s scroll bars overlay the page, as on a real one, instead of taking 15 px."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    browser.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": phone})
    wait(browser, lambda b: b.execute_script("return window.innerWidth") == width)


def screenshot_dir() -> Path:
    """Where journeys save their screenshots: ``var/screenshots`` (CI keeps ``var/``)."""
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(browser: WebDriver, name: str, *, full_page: bool = False) -> Path:
    """Save what the window shows as ``var/screenshots/NAME.png`` and return the path; with
    ``full_page``, the whole page (to SCREENSHOT_MAX_HEIGHT), including what passes the
    window's right edge."""
    target = screenshot_dir() / f"{name}.png"
    if not full_page:
        assert browser.save_screenshot(str(target)), f"no screenshot saved to {target}"
        return target
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": size["width"],
        "height": min(size["height"], SCREENSHOT_MAX_HEIGHT),
        "scale": 1,
    }
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


# --- the order form: face-value fields swapped in by htmx when a line's product changes ---


def face_value_field(browser: WebDriver, index: int, tag: str) -> WebElement:
    """Line ``index``'s face-value field once it is a ``tag`` (select or input): the field that
    fits the product chosen, swapped in by htmx."""
    css = f'{tag}[name="lines-{index}-face_value"]'
    field: WebElement = wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, css))
    return field


def choose_product(browser: WebDriver, index: int, product: Any) -> None:
    select = Select(browser.find_element(By.NAME, f"lines-{index}-product"))
    select.select_by_value(str(product.public_id))


def fill_line(browser: WebDriver, index: int, product: Any, face_value: str, qty: str) -> None:
    """Choose the product, wait for its face-value field, then give the value and quantity."""
    choose_product(browser, index, product)
    if product.face_values:
        Select(face_value_field(browser, index, "select")).select_by_value(face_value)
    else:
        face_value_field(browser, index, "input[type=number]").send_keys(face_value)
    browser.find_element(By.NAME, f"lines-{index}-quantity").send_keys(qty)
