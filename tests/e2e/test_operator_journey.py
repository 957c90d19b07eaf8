"""The operators' journey from a queue to a decision to a filed report, in a real browser
(issue 17's last "done when"): queue → decision → report export.

A company registered this quarter waits for KYC review; its owner has uploaded the business
licence and the agent's letter of authorisation. Another company bought cards this quarter and
spent some at a shop. The quarter then ends (the server's clock is moved past it, as
``tests/compliance/helpers.backdated`` moves it back: the rows keep their real times).

Operator A opens the console, reads the KYC queue's count, follows it to the filtered company
list, opens the company, opens its business licence (a download, audited) and records an
approval with a reason. Operator B, in a fresh session and the other language, follows the same
queue and confirms it: the company is active, with its status history and an audit row for each
act. B then computes the quarterly business report of the quarter just ended, files it, and
downloads its XLSX (whose figures are the ledger's) and its PDF (whose text carries the SHA-256
shown on the page). Run once with A in English and B in Chinese, once the other way round;
screenshots go to ``var/screens/operator-journey/``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of

from billing.models import Account
from cards.models import MerchantApiKey
from cards.services.spend import merchant_key_create, redemption_create
from compliance.content import Period
from compliance.kinds import REPORT_KINDS
from compliance.models import FiledReport
from compliance.periods import period_label
from portal.models import AuditEvent, Company, CompanyDocument, CompanyStatusChange, User
from portal.services.companies import company_create
from portal.services.kyc import KycAction, company_document_upload
from tests import factories
from tests.cards.expiry.helpers import code_of
from tests.compliance.report_helpers import (
    after,
    bearer_product,
    buyer,
    issued,
    line,
    merchant,
    owed,
    pdf_text,
    this_quarter,
    xlsx_rows,
)
from tests.compliance.test_business_report import ledger_sum
from tests.e2e.browse import (
    PASSWORD,
    html_lang,
    path_of,
    prefer_language,
    totp_code,
    wait,
    wait_for,
    wait_for_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens" / "operator-journey"
WAIT = 30.0
COMPANY = "厦门海风礼品有限公司"
LICENCE = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% business licence\n%%EOF\n"
AUTHORISATION = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ACCEPT = {"en": "en", "zh-hans": "zh-CN,zh"}


# --- The books, built through the services ---------------------------------------------------


def _pending_company() -> tuple[Company, CompanyDocument]:
    """A company waiting for review, whose owner uploaded both documents in the portal."""
    owner = User.objects.create_user("owner@haifeng.example", PASSWORD)
    company = company_create(legal_name=COMPANY, credit_code=factories.credit_code(), owner=owner)
    licence = company_document_upload(
        company=company,
        kind=CompanyDocument.Kind.BUSINESS_LICENCE,
        upload=SimpleUploadedFile("营业执照.pdf", LICENCE),
        actor=owner,
    )
    company_document_upload(
        company=company,
        kind=CompanyDocument.Kind.AUTHORISATION,
        upload=SimpleUploadedFile("授权委托书.png", AUTHORISATION),
        actor=owner,
    )
    return company, licence


def _sales() -> None:
    """Four ¥500 cards sold and issued; two of them spent at a shop, one given back in part."""
    cards = issued(buyer("上海春风百货有限公司"), [line(bearer_product(), "500", 4)])
    key, _plaintext = merchant_key_create(
        merchant=merchant(),
        name="收银台",
        scopes=list(MerchantApiKey.Scope.values),
        actor=factories.operator(),
    )
    for n, (card, amount) in enumerate([(cards[0], "120.00"), (cards[1], "35.50")]):
        redemption_create(
            key=key,
            code=code_of(card),
            amount=Decimal(amount),
            merchant_reference=f"POS-{n}",
            idempotency_key=f"redeem-{n}",
        )


def _operator(email: str) -> tuple[User, TOTPDevice]:
    user = User.objects.create_user(email, PASSWORD, is_staff=True, is_superuser=True)
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _quarter_over(monkeypatch: pytest.MonkeyPatch) -> Period:
    """Move the clock (``timezone.now``, which the live server reads too) to noon of the day
    after this quarter: the quarter the books were written in is the last finished one."""
    quarter = this_quarter()
    real_now = timezone.now
    offset = after(quarter) - real_now()
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset)
    return quarter


# --- In the browser --------------------------------------------------------------------------


def _shot(browser: WebDriver, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENS / f"{name}.png")), name


def _sign_in_ops(
    browser: WebDriver, base: str, user: User, device: TOTPDevice, language: str
) -> None:
    """Sign in to the operations admin with the password and the TOTP code, in ``language``."""
    prefer_language(browser, ACCEPT[language])
    browser.get(base + "/ops/login/")
    browser.find_element(By.NAME, "username").send_keys(user.email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.NAME, "otp_token").send_keys(totp_code(device.bin_key))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_path(browser, "/ops/", WAIT)
    assert html_lang(browser) == language


def _follow(browser: WebDriver, css: str) -> None:
    """Click the link or button ``css`` and wait for the next page."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, css).click()
    wait(browser, staleness_of(page), WAIT)


def _css_text(browser: WebDriver, css: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, css).text)


def _queue_to_company(browser: WebDriver, company: Company, count: int) -> None:
    """From the console: the KYC queue shows ``count``; its link lists exactly the companies
    waiting; open ``company``."""
    assert _css_text(browser, '[data-testid="queue-kyc-count"]') == str(count)
    _follow(browser, '[data-testid="queue-kyc"] a')
    assert "kyc=waiting" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th a").text for row in rows] == [COMPANY]
    _follow(browser, "#result_list tbody th a")
    wait_for_path(browser, reverse("admin:portal_company_change", args=[company.pk]), WAIT)


def _downloaded(folder: Path, suffix: str, before: set[str]) -> Path:
    """The file the browser has finished saving into ``folder`` since ``before``."""
    found: Path = wait_for(
        lambda: next(
            (p for p in folder.iterdir() if p.suffix == suffix and p.name not in before), None
        ),
        f"the browser to save a {suffix} file",
        WAIT,
    )
    return found


def _download(browser: WebDriver, folder: Path, css: str, suffix: str) -> bytes:
    before = {p.name for p in folder.iterdir()}
    browser.find_element(By.CSS_SELECTOR, css).click()
    return _downloaded(folder, suffix, before).read_bytes()


@pytest.mark.parametrize(("language_a", "language_b"), [("en", "zh-hans"), ("zh-hans", "en")])
def test_operators_review_a_company_with_two_people_and_file_the_quarterly_report(
    live_server: Any,
    browser: WebDriver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    language_a: str,
    language_b: str,
) -> None:
    settings.KYC_DOCUMENTS_ROOT = str(tmp_path / "kyc")
    company, licence = _pending_company()
    _sales()
    operator_a, device_a = _operator("anna@issuer.example")
    operator_b, device_b = _operator("bo@issuer.example")
    quarter = _quarter_over(monkeypatch)
    base = live_server.url
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    tag = f"{language_a}-{language_b}"

    # --- 1. Operator A: the console's KYC queue, the company, its licence ----------------------
    _sign_in_ops(browser, base, operator_a, device_a, language_a)
    _shot(browser, f"{tag}-1-console-{language_a}")
    _queue_to_company(browser, company, count=1)
    summary = _css_text(browser, "#kyc-summary")
    assert "营业执照.pdf" in summary
    assert "授权委托书.png" in summary
    link = f'a.kyc-document-link[href$="/{licence.public_id}/"]'
    assert _download(browser, downloads, link, ".pdf") == LICENCE
    opened = AuditEvent.objects.filter(action=KycAction.DOCUMENT_OPENED, actor=operator_a)
    assert [event.object_id for event in opened] == [str(licence.public_id)]

    # --- 2. A records an approval with a reason: it waits for a second operator ----------------
    _follow(browser, "a.kyc-decide-link")
    browser.find_element(By.CSS_SELECTOR, "input[name=decision][value=approve]").click()
    browser.find_element(By.NAME, "reason").send_keys("营业执照与授权书已核对 / documents checked")
    _shot(browser, f"{tag}-2-decision-{language_a}")
    _follow(browser, "input[type=submit].default")
    with translation.override(language_a):
        waits = gettext("Approval waits for a second operator")
    assert waits in _css_text(browser, "#kyc-summary")
    assert not browser.find_elements(By.CSS_SELECTOR, "a.kyc-confirm-link")  # not one's own
    company.refresh_from_db()
    assert company.status == Company.Status.PENDING

    # --- 3. Operator B, a fresh session in the other language, confirms from the queue ----------
    browser.delete_all_cookies()
    _sign_in_ops(browser, base, operator_b, device_b, language_b)
    _queue_to_company(browser, company, count=1)  # the approval still waits
    _follow(browser, "a.kyc-confirm-link")
    assert operator_a.email in _css_text(browser, "#content")
    _shot(browser, f"{tag}-3-confirm-{language_b}")
    _follow(browser, "input[type=submit].default")
    with translation.override(language_b):
        active = str(Company.Status.ACTIVE.label)
        confirmed = gettext("Approval confirmed: %(company)s is active.") % {"company": COMPANY}
    assert _css_text(browser, ".field-status .readonly") == active
    assert confirmed in _css_text(browser, ".messagelist")
    _shot(browser, f"{tag}-4-active-{language_b}")
    company.refresh_from_db()
    assert company.status == Company.Status.ACTIVE
    change = CompanyStatusChange.objects.filter(company=company).latest("id")
    assert (change.from_status, change.to_status) == (Company.Status.PENDING, Company.Status.ACTIVE)
    assert (change.changed_by, change.approved_by) == (operator_b, operator_a)
    decided = AuditEvent.objects.get(action=KycAction.DECISION_RECORDED, company=company)
    assert decided.actor == operator_a
    confirmed_event = AuditEvent.objects.get(action=KycAction.APPROVAL_CONFIRMED, company=company)
    assert confirmed_event.actor == operator_b
    browser.get(base + "/ops/")
    assert _css_text(browser, '[data-testid="queue-kyc-count"]') == "0"
    _shot(browser, f"{tag}-5-console-{language_b}")

    # --- 4. B computes the quarterly business report of the quarter just ended and files it -----
    label = period_label(quarter)
    assert label.replace("Q", " Q") in _css_text(browser, '[data-testid="business-report-due"]')
    reports = reverse("admin:compliance_filedreport_changelist")
    _follow(browser, f'#content-main a[href="{reports}"]')  # the console's list of records
    _follow(browser, ".object-tools a[href$='/compute/']")
    browser.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=business]").click()
    _follow(browser, "form[method=get] input[type=submit]")
    _follow(browser, "#content a[href*='period=']")  # the latest finished quarter, offered first
    assert f"period={label}" in browser.current_url
    previewed = _css_text(browser, "#content-sha256")
    _shot(browser, f"{tag}-6-report-preview-{language_b}")
    _follow(browser, "form[method=post] input[type=submit].default")
    filed = FiledReport.objects.get(kind="business")
    assert (filed.period_start, filed.period_end, filed.filed_by) == (
        quarter.start,
        quarter.end,
        operator_b,
    )
    assert filed.content_sha256 == previewed
    assert _css_text(browser, ".field-content_sha256 .readonly") == previewed
    _shot(browser, f"{tag}-7-report-filed-{language_b}")

    # --- 5. The files: the XLSX's figures are the ledger's, the PDF carries the SHA-256 ----------
    xlsx = _download(browser, downloads, ".field-downloads a[href$='/xlsx/']", ".xlsx")
    pdf = _download(browser, downloads, ".field-downloads a[href$='/pdf/']", ".pdf")
    content = REPORT_KINDS["business"].compute(quarter)
    with translation.override(language_b):
        labels = {figure.key: str(figure.label) for figure in content.figures}
    values = {row[0]: row[1] for row in xlsx_rows(xlsx) if len(row) > 1 and row[0]}
    sold = -ledger_sum(Account.Kind.CARD_LIABILITY, "card_issuance")
    assert sold == Decimal("2000.00")
    assert Decimal(str(values[labels["cards_sold_value"]])) == sold
    redeemed = ledger_sum(
        Account.Kind.CARD_LIABILITY, "card_redeem", "card_refund", "card_redeem_void"
    )
    assert redeemed == Decimal("155.50")
    assert Decimal(str(values[labels["redeemed_net"]])) == redeemed
    assert Decimal(str(values[labels["card_liability"]])) == owed(Account.Kind.CARD_LIABILITY)
    assert previewed in pdf_text(pdf)
    downloaded = AuditEvent.objects.filter(
        action="compliance.report_downloaded", actor=operator_b, object_id=str(filed.public_id)
    )
    assert downloaded.count() == 2
    assert path_of(browser) == reverse("admin:compliance_filedreport_change", args=[filed.pk])

    # --- 6. Back on the console: the quarter's report is filed, nothing waits for KYC ------------
    browser.get(base + "/ops/")
    with translation.override(language_b):
        done = gettext("Filed.")
    assert done in _css_text(browser, '[data-testid="business-report-due"]')
    assert _css_text(browser, '[data-testid="queue-kyc-count"]') == "0"
