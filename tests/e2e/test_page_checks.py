"""The page checks of the role journeys catch what they are meant to, and only that: each is run
on a small page made to have (or not have) the fault. The last test runs axe-core on a page of
the portal, under its Content-Security-Policy."""

from __future__ import annotations

import urllib.request
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.browse import set_viewport, wait_for_path
from tests.e2e.page_checks import (
    axe_problems,
    overflow_problems,
    untranslated_problems,
    wrap_problems,
)

pytestmark = [pytest.mark.browser]


def _show(browser: WebDriver, body: str, *, lang: str = "en") -> None:
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>t</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body { margin: 0 }</style>"
        f"</head><body><main>{body}</main></body></html>"
    )
    browser.get("data:text/html;charset=utf-8," + quote(page))


def test_overflow_names_the_widest_element_and_cut_off_tables(browser: WebDriver) -> None:
    set_viewport(browser, 390, 844, phone=True)
    _show(browser, "<p>fits</p>")
    assert overflow_problems(browser, regions=True) == []

    _show(browser, '<section><div id="wide" style="width: 600px">too wide</div></section>')
    [problem] = overflow_problems(browser)
    assert "600 px of content in 390 px" in problem
    assert 'div#wide "too wide" reaches 600 px' in problem

    # A table in a box that scrolls: the page does not, but the table is cut off.
    _show(
        browser,
        '<div class="table-scroll" style="overflow-x: auto">'
        '<table data-testid="orders" style="width: 700px"><tr><td>a</td></tr></table></div>',
    )
    assert overflow_problems(browser) == []
    [problem] = overflow_problems(browser, regions=True)
    assert problem.startswith("cut off, scrolls sideways inside: div.table-scroll")
    assert "holds 700 px in 390 px" in problem


def test_wrap_finds_labels_broken_inside_a_word(browser: WebDriver) -> None:
    set_viewport(browser, 1366, 900)
    _show(
        browser,
        # The old menu in Chinese: a flex item squeezed narrower than its word.
        '<nav style="display: flex; width: 60px">'
        '<a href="#" data-nav="dashboard">工作台</a><a href="#" data-nav="orders">订单</a></nav>'
        # Broken between words only: fine.
        '<button style="width: 5em">Save draft order</button>'
        # An English word broken by overflow-wrap.
        '<table><tr><th style="width: 2em; overflow-wrap: anywhere">Statement</th></tr></table>'
        # A sentence of more than 8 CJK characters may break anywhere.
        '<label style="display: inline-block; width: 4em">这是一个很长的中文说明文字</label>'
        # Identifiers never break; a code shown in groups may break between them.
        '<div style="width: 6em; overflow-wrap: anywhere">'
        "<p><code>91110000100000000R</code></p>"
        '<p><span class="nowrap" style="white-space: nowrap">PO2612049M9S98</span></p>'
        "<p><code><span>A10G1</span>-<span>9NBQR</span>-<span>EE6VC</span></code></p></div>"
        # Hidden, or for screen readers only: not looked at.
        '<span class="badge" style="display: none">未结清</span>'
        '<button style="position: absolute; width: 1px; height: 1px; overflow: hidden;'
        ' clip: rect(0 0 0 0)">计算价格</button>',
        lang="zh-hans",
    )
    problems = wrap_problems(browser)
    assert any("'工作台'" in p and 'a[data-nav="dashboard"]' in p for p in problems), problems
    assert any("'Statement'" in p and "th" in p for p in problems), problems
    assert not any("Save" in p or "draft" in p or "这是" in p for p in problems), problems
    assert not any("未结清" in p or "计算价格" in p for p in problems), problems
    assert any("'91110000100000000R'" in p and "code" in p for p in problems), problems
    assert not any("PO2612049M9S98" in p or "A10G1" in p for p in problems), problems


def test_untranslated_finds_english_interface_text_not_data(browser: WebDriver) -> None:
    set_viewport(browser, 1366, 900)
    _show(
        browser,
        "<h1>订单 Waiting for approval</h1>"
        '<button type="button">导出 <span>Export</span></button>'
        '<input placeholder="Search orders">'
        "<p>联系人 buyer.one@example.com · https://portal.example/r/abc</p>"
        "<p>订单 PO2612049M9S98 · HR-2026-01 · ¥1,000.00</p>"
        "<p>导出 CSV · XLSX · PDF · API 密钥 · TOTP</p>"
        '<code>Gift card</code><span class="nowrap">Acme Gift Trading</span>'
        '<select><option lang="en">English</option><option>中文</option></select>'
        '<p style="display: none">Hidden English text</p>',
        lang="zh-hans",
    )
    found = untranslated_problems(browser)
    assert len(found) == 2, found
    assert "'Waiting for approval' in h1" in found[0]
    assert "'Search orders' in input" in found[1]


def test_axe_reports_serious_and_critical_violations(browser: WebDriver) -> None:
    set_viewport(browser, 1366, 900)
    _show(browser, '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><button></button>')
    problems = axe_problems(browser)
    assert any(p.startswith("axe critical image-alt:") and "(img)" in p for p in problems)
    assert any(p.startswith("axe critical button-name:") for p in problems), problems

    _show(
        browser, '<h1>Fine</h1><img alt="a dot" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    )
    assert axe_problems(browser) == []


@pytest.mark.django_db(transaction=True)
def test_axe_runs_under_the_sites_content_security_policy(
    live_server: Any, browser: WebDriver
) -> None:
    """The portal forbids inline and injected scripts to the page; WebDriver's scripts are not
    the page's, so axe-core (injected as a script argument) still runs."""
    with urllib.request.urlopen(live_server.url + "/login/", timeout=20) as response:
        policy = response.headers.get("Content-Security-Policy", "")
    assert "script-src" in policy, policy
    assert "'unsafe-eval'" not in policy, policy
    set_viewport(browser, 1366, 900)
    browser.get(live_server.url + "/login/")
    wait_for_path(browser, "/login/")
    problems = axe_problems(browser)
    assert not any("failed to run" in p for p in problems), problems
    assert browser.execute_script("return typeof window.axe.run") == "function"
