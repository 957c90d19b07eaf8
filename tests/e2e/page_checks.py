"""Checks of a page as a person sees it, run in the browser on whatever page is shown.

Each returns a list of problems, one sentence each naming the element, so that a journey can
visit many pages and report everything it found at once:

- ``overflow_problems``: the page scrolls sideways (the document's ``scrollWidth`` wider than
  its ``clientWidth``, the window less its scroll bar: stricter than ``innerWidth``), naming the
  outermost elements whose right edge passes it; at phone width also a box inside the page that
  scrolls sideways (a table cut off at the edge);
- ``wrap_problems``: a menu link, button, table header, badge, form label or term breaks inside
  a word (a Range over each word has client rects on more than one line), or an identifier
  (``.nowrap``, a ``<code>`` of its own) breaks at all;
- ``untranslated_problems``: English interface text on a Chinese page (runs of two or more
  English words; the rule and what it leaves out are in ``scripts/untranslated.js``);
- ``axe_problems``: axe-core's violations of impact serious or critical, injected from the
  vendored ``vendor/axe.min.js``, so that the browser loads nothing from elsewhere.

The scripts live in ``scripts/`` beside this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver

HERE = Path(__file__).resolve().parent
AXE_VERSION = "4.10.3"
AXE_IMPACTS = ("serious", "critical")
AXE_SECONDS = 30


@cache
def _script(name: str) -> str:
    return (HERE / "scripts" / name).read_text(encoding="utf-8")


@cache
def _axe_source() -> str:
    source = (HERE / "vendor" / "axe.min.js").read_text(encoding="utf-8")
    assert f"axe v{AXE_VERSION}" in source[:200], "vendor/axe.min.js is not the version expected"
    return source


def _run(browser: WebDriver, name: str) -> Any:
    """Run ``scripts/NAME`` as the body of a function, with ``describe`` in scope."""
    return browser.execute_script(_script("describe.js") + "\n" + _script(name))


def overflow_problems(browser: WebDriver, *, regions: bool = False) -> list[str]:
    """The page scrolls sideways; with ``regions``, also every box inside it that does (a
    table whose columns past the window's edge are reached only by scrolling it)."""
    found = _run(browser, "overflow.js")
    problems = []
    if found["scrollWidth"] > found["width"]:
        offenders = "; ".join(
            f"{o['element']} reaches {o['right']} px (width {o['width']})"
            for o in found["offenders"]
        )
        problems.append(
            f"scrolls sideways: {found['scrollWidth']} px of content in {found['width']} px; "
            f"widest: {offenders or 'no single element found'}"
        )
    if regions:
        problems += [
            f"cut off, scrolls sideways inside: {r['element']} holds {r['scrollWidth']} px "
            f"in {r['width']} px"
            for r in found["regions"]
        ]
    return problems


def wrap_problems(browser: WebDriver) -> list[str]:
    return [
        f"breaks inside the word {p['word']!r} over two lines: {p['element']}"
        for p in _run(browser, "wrap.js")
    ]


def untranslated_problems(browser: WebDriver) -> list[str]:
    return [
        f"English on a Chinese page: {p['text']!r} in {p['element']}"
        for p in _run(browser, "untranslated.js")
    ]


AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
  (results) => done({violations: results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }))}),
  (error) => done({error: String(error)}),
);
"""


def axe_problems(browser: WebDriver) -> list[str]:
    """axe-core's serious and critical violations, each with its rule, help and targets. The
    site's Content-Security-Policy governs the page's own scripts, not what WebDriver runs,
    so the injected engine runs under it (``test_axe_runs_under_the_sites_csp`` checks)."""
    if not browser.execute_script("return typeof window.axe === 'object'"):
        browser.execute_script(_axe_source())
    browser.set_script_timeout(AXE_SECONDS)
    found = browser.execute_async_script(AXE_RUN)
    if "error" in found:
        return [f"axe-core failed to run: {found['error']}"]
    problems = []
    for violation in found["violations"]:
        if violation["impact"] not in AXE_IMPACTS:
            continue
        targets = violation["targets"]
        more = f" and {len(targets) - 3} more" if len(targets) > 3 else ""
        shown = ", ".join(targets[:3]) + more
        problems.append(
            f"axe {violation['impact']} {violation['id']}: {violation['help']} ({shown})"
        )
    return problems


@dataclass(frozen=True)
class Checks:
    """Which checks to run on a page: English is looked for on Chinese pages, and boxes that
    scroll sideways inside the page at phone width (where tables must become stacked rows)."""

    chinese: bool
    phone: bool
    accessibility: bool = True


def page_problems(browser: WebDriver, checks: Checks) -> list[str]:
    """Every problem the checks find on the page shown now."""
    problems = overflow_problems(browser, regions=checks.phone) + wrap_problems(browser)
    if checks.chinese:
        problems += untranslated_problems(browser)
    if checks.accessibility:
        problems += axe_problems(browser)
    return problems
