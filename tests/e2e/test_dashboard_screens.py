"""The owner's dashboard, the credit page and the aging page in a real browser, at desktop and
phone width: every chart is drawn, nothing overflows the page sideways at 390 px, and a
screenshot of each is saved under ``var/screens/dashboard/``."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db.models import F
from django.test import Client
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from billing.models import Invoice
from cards.models import Batch, Order, OrderUpload, UploadStatus
from portal.models import Company, Role
from tests import factories
from tests.billing import statement_data as data
from tests.cards.test_code_download import fulfilled_order
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens" / "dashboard"
WIDTHS = (1366, 390)


def _busy_company() -> dict[str, Any]:
    """A company with a year of orders, invoices due and overdue, orders waiting for approval,
    a draft and an order file being checked."""
    company = factories.company("苏州春风礼品有限公司", approval_threshold="1000000.00")
    factories.credit_line(company, "200000.00")
    people = factories.team(company)
    now = timezone.now()
    for months_ago in (0, 1, 2, 4, 5, 7, 9, 11):
        order = fulfilled_order(company, people[Role.PURCHASER])
        moved = now - datetime.timedelta(days=30 * months_ago + 1)
        Order.objects.filter(pk=order.pk).update(funded_at=moved, created_at=moved)
        Batch.objects.filter(order=order).update(
            finished_at=moved,
            quantity=F("quantity") * (months_ago + 1),
            generated=F("generated") * (months_ago + 1),
        )
        Order.objects.filter(pk=order.pk).update(total=F("total") * (months_ago + 1))
    Invoice.objects.filter(company=company).update(paid_amount=F("total"), status="paid")
    Company.objects.filter(pk=company.pk).update(approval_threshold=Decimal("100.00"))
    company.refresh_from_db()
    factories.submitted(company, people[Role.PURCHASER], quantity=5)
    factories.draft(company, people[Role.OWNER], quantity=2)
    data.invoice(company, total="18500.00", issued=now - datetime.timedelta(days=22))
    data.invoice(company, total="7200.00", issued=now - datetime.timedelta(days=75))
    data.invoice(company, total="3100.00", issued=now - datetime.timedelta(days=45))
    OrderUpload.objects.create(
        company=company,
        created_by=people[Role.PURCHASER],
        file="uploads/x.csv",
        file_name="员工福利-三月.xlsx",
        file_size=10,
        file_sha256="0" * 64,
        status=UploadStatus.INVALID,
        error_count=3,
    )
    return {"company": company, "people": people}


def _sign_in_browser(browser: WebDriver, live_server: Any, user: Any) -> None:
    client = Client()
    sign_in(client, user, second_factor=True)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    browser.get(f"{live_server.url}/healthz")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": cookie.value})


def _overflow(browser: WebDriver) -> int:
    return int(
        browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def _screens(browser: WebDriver, live_server: Any, path: str, name: str, language: str) -> None:
    for width in WIDTHS:
        browser.set_window_size(width, 900)
        browser.get(f"{live_server.url}{path}")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, min(int(height) + 120, 6000))
        SCREENS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENS / f"{name}-{language}-{width}.png"))
        if width == 390:
            assert _overflow(browser) <= 0, f"{path} overflows at 390 px"


@pytest.mark.parametrize("language", ["en"])
def test_the_owners_pages_draw_their_charts_and_fit_a_phone(
    live_server: Any, browser: WebDriver, settings: Any, language: str
) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 10
    shop = _busy_company()
    _sign_in_browser(browser, live_server, shop["people"][Role.OWNER])
    browser.add_cookie({"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language})

    _screens(browser, live_server, "/", "dashboard", language)
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart-svg[role='img']")
    assert len(charts) == 3  # credit use, spend, cards issued
    _screens(browser, live_server, "/credit/", "credit", language)
    _screens(browser, live_server, "/aging/", "aging", language)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid='chart-aging'] svg")
