"""The Swagger UI page really runs in a browser under the site's CSP: its scripts load from this
site, it renders the schema, and no CSP violation is reported."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from portal.models import Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Registered before any page script runs, so violations during loading are caught too.
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def test_swagger_ui_renders_the_schema_without_csp_violations(browser: Any, live_server: Any):
    # A signed-in member (the docs and the schema are not public)
    client = Client()
    client.force_login(factories.member(factories.company(), Role.PURCHASER))
    browser.get(f"{live_server.url}/login/")
    browser.add_cookie(
        {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value}
    )
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_VIOLATIONS})
    browser.get(f"{live_server.url}/api/docs/")

    WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    )
    paths = {
        e.text.replace("\u200b", "")
        for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert "/api/v1/orders" in paths
    assert browser.find_elements(By.CSS_SELECTOR, ".btn.authorize")
    assert browser.execute_script("return window.__cspViolations") == []
