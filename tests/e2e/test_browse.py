"""The journeys' waits retry what only says that the page changed under them, and nothing else
(no browser needed: the condition raises what Chromium raised)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from selenium.common.exceptions import (
    JavascriptException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.browse import is_transient, wait

# What CI saw once, right after a click on "approve" replaced the order page.
DETACHED = (
    "unknown error: unhandled inspector error: "
    '{"code":-32000,"message":"Node with given id does not belong to the document"}'
)


class FakeBrowser:
    def execute_script(self, script: str, *args: Any) -> str:
        return "/orders/PO1/"


def _browser() -> WebDriver:
    return cast(WebDriver, FakeBrowser())


def _failing(errors: list[WebDriverException], result: str = "done") -> Any:
    """A condition that raises ``errors`` one per call, then returns ``result``."""

    def condition(_browser: WebDriver) -> str:
        if errors:
            raise errors.pop(0)
        return result

    return condition


@pytest.mark.parametrize(
    "message",
    [
        DETACHED,
        "unknown error: Node is detached from document",
        "javascript error: no such execution context",
        "unknown error: Cannot find context with specified id",
    ],
)
def test_a_page_replaced_under_the_command_is_retried(message: str) -> None:
    assert is_transient(WebDriverException(message))
    errors = [WebDriverException(message), StaleElementReferenceException("stale")]
    assert wait(_browser(), _failing(errors), timeout=5) == "done"
    assert errors == []


def test_other_errors_fail_at_once() -> None:
    error = WebDriverException("unknown error: session deleted because of page crash")
    assert not is_transient(error)
    with pytest.raises(WebDriverException, match="page crash"):
        wait(_browser(), _failing([error]), timeout=5)
    with pytest.raises(JavascriptException):
        wait(_browser(), _failing([JavascriptException("x is not defined")]), timeout=5)


def test_errors_a_caller_names_are_retried() -> None:
    errors: list[WebDriverException] = [JavascriptException("reloading")]
    assert wait(_browser(), _failing(errors), timeout=5, ignoring=(JavascriptException,))


def test_a_timeout_says_where_and_what_was_last_retried() -> None:
    def never(_browser: WebDriver) -> bool:
        raise WebDriverException(DETACHED)

    with pytest.raises(TimeoutException, match=r"on /orders/PO1/; last error: .*does not belong"):
        wait(_browser(), never, timeout=0.3)
