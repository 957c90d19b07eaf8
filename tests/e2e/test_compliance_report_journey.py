"""Filing a compliance report in a real browser: an operator signs in to the operations admin,
records the escrow balance, opens the compliance reports page, chooses the deposit report and the
last finished quarter, checks the preview, files it, and fetches the filed PDF (whose SHA-256 is
the one filed), every step audited."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from compliance.models import DepositRecord, FiledReport
from compliance.periods import period_label, previous_quarter
from portal import days
from portal.models import AuditEvent, User
from tests.e2e.browse import PASSWORD, prefer_english, screenshot, totp_code, wait, wait_for_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPS_EMAIL = "ops@issuer.example"
WAIT = 30.0

_FETCH_SHA = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: "same-origin"})
  .then(r => r.arrayBuffer().then(b => crypto.subtle.digest("SHA-256", b))
    .then(d => done([r.status, r.headers.get("X-Content-SHA256"),
      Array.from(new Uint8Array(d)).map(x => x.toString(16).padStart(2, "0")).join("")])))
  .catch(e => done([0, String(e), ""]));
"""


def test_an_operator_records_the_deposit_files_the_report_and_fetches_its_pdf(
    live_server: Any, browser: WebDriver
) -> None:
    ops = User.objects.create_user(OPS_EMAIL, PASSWORD, is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=ops, name="phone", confirmed=True)
    base = live_server.url
    prefer_english(browser)
    browser.get(base + "/ops/login/")
    browser.find_element(By.NAME, "username").send_keys(OPS_EMAIL)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.NAME, "otp_token").send_keys(totp_code(device.bin_key))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_path(browser, "/ops/", WAIT)

    # The escrow balance at the end of the last quarter, as the bank shows it.
    quarter = previous_quarter(days.today())
    browser.get(base + reverse("admin:compliance_depositrecord_add"))
    browser.find_element(By.NAME, "as_of").send_keys(quarter.end.isoformat())
    browser.find_element(By.NAME, "escrow_balance").send_keys("1200.00")
    browser.find_element(By.NAME, "bank").send_keys("ICBC Suzhou")
    browser.find_element(By.NAME, "_save").click()
    wait(browser, lambda b: DepositRecord.objects.exists(), WAIT)

    # Choose the report and the quarter, preview, file.
    browser.get(base + reverse("admin:compliance_filedreport_changelist"))
    browser.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/compute/']").click()
    Select(browser.find_element(By.NAME, "kind")).select_by_value("deposit")
    browser.find_element(By.NAME, "period").send_keys(period_label(quarter))
    browser.find_element(By.CSS_SELECTOR, "input[value=Preview]").click()
    wait(browser, lambda b: b.find_elements(By.ID, "report-figures"), WAIT)
    figures = browser.find_element(By.ID, "report-figures").text
    assert "Escrow bank balance" in figures
    assert "1200.00" in figures
    previewed = browser.find_element(By.ID, "content-sha256").text
    screenshot(browser, "journey-compliance-preview")
    browser.find_element(By.CSS_SELECTOR, "input[value='File this report']").click()
    wait(browser, lambda b: "/change/" in b.current_url, WAIT)
    filed = FiledReport.objects.get()
    assert filed.content_sha256 == previewed

    # The filed PDF, fetched by the operator's browser: the bytes filed, and the download audited.
    link = browser.find_element(By.LINK_TEXT, "PDF").get_attribute("href")
    status, header, digest = browser.execute_async_script(_FETCH_SHA, link)
    assert status == 200
    assert header == digest == filed.pdf_sha256 == hashlib.sha256(bytes(filed.pdf)).hexdigest()
    assert AuditEvent.objects.filter(
        action="compliance.report_downloaded", actor=ops, object_id=str(filed.public_id)
    ).exists()
    assert AuditEvent.objects.filter(action="compliance.report_filed", actor=ops).exists()
