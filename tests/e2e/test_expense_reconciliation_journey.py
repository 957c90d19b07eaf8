"""Expense reconciliation from the report file to the voucher, in a real browser with a real
worker and the real matching engine (issue 16's "done when").

A company's cards were given to two employees (order lines with employee ids and cost
centers) and spent at a shop through the merchant service. A finance member (TOTP) uploads the
expense report their expense system exported; a worker checks and matches it while the report
page follows by itself. Seven claim lines end in known states: two matched, two whose amount
differs from the spend, a duplicate, one with no spend and one naming an unknown card. In the
period's exception queue finance accepts one with a note, rejects the duplicate, links the
no-spend claim by hand to the employee's unclaimed spend and bulk-accepts the other two; closes
the period (the reconciliation report is filed, its SHA-256 shown, and the download matches
it); and exports the vouchers as U8 (CSV) and as a generic journal (XLSX), which the test opens
and finds balanced.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of

from cards.models import Card
from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    LineState,
    PeriodReport,
    PeriodStatus,
    ReportStatus,
    Resolution,
)
from expenses.services.mapping import RuleInput, mapping_save
from portal import days
from tests.e2e.browse import (
    WAIT,
    find,
    html_lang,
    nav_to,
    path_of,
    prefer_chinese,
    prefer_english,
    screenshot,
    set_viewport,
    sign_in,
    wait,
    wait_for,
    wait_for_path,
)
from tests.expenses.intake_helpers import EN, ZH
from tests.expenses.resolution_data import books

if TYPE_CHECKING:
    from conftest import Worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Claim lines the test acts on, by line number.
MATCHED_BY_REFERENCE, MATCHED_BY_EMPLOYEE = "1", "2"
DIFFERS_ACCEPTED, DIFFERS_BULK = "3", "4"
DUPLICATE, NO_SPEND, UNKNOWN = "5", "6", "7"
UNKNOWN_SERIAL = "6200999999999999"
# A few of the pages' texts, as each language shows them.
TEXTS = {
    "en": {
        "checking": "Checking the report",
        "differs": "Amount differs (2)",
        "queue": "Exceptions of {month}",
        "state": "Amount differs",
        "download": "Download vouchers",
    },
    "zh": {
        "checking": "正在检查报销单",
        "differs": "金额不符 (2)",
        "queue": "{month} 的异常",
        "state": "金额不符",
        "download": "下载凭证",
    },
}
REPORT_PAGE = re.compile(r"/expenses/reports/[0-9a-f-]{36}/")


def _report_file(path: Path, *, day: str, card1_serial: str, chinese: bool) -> Path:
    """The report as the expense system exports it: UTF-8 with BOM, headers in the run's
    language."""

    def line(
        number: str,
        employee: str,
        amount: str,
        *,
        reference: str = "",
        serial: str = "",
        description: str = "",
    ) -> list[str]:
        name, cost_center = {"E001": ("张三", "CC-10"), "E002": ("李四", "CC-20")}[employee]
        return ["BX-2026-12", number, employee, name, day, amount, "好又多超市", reference,
                serial, "", cost_center, "meals", "", description]  # fmt: skip

    rows = [
        ZH if chinese else EN,
        line(MATCHED_BY_REFERENCE, "E001", "80.00", reference="POS-A1", description="午餐"),
        line(MATCHED_BY_EMPLOYEE, "E001", "45.50", description="文具"),
        line(DIFFERS_ACCEPTED, "E002", "66.00", reference="POS-B1", description="客户晚餐"),
        line(DIFFERS_BULK, "E001", "125.00", serial=card1_serial, description="团队聚餐"),
        line(DUPLICATE, "E001", "80.00", reference="POS-A1", description="午餐(重复)"),
        line(NO_SPEND, "E001", "30.00", description="出租车"),
        line(UNKNOWN, "E002", "50.00", serial=UNKNOWN_SERIAL, description="加油"),
    ]
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    path.write_bytes(text.getvalue().encode("utf-8-sig"))
    return path


def _download(browser: WebDriver, url: str) -> tuple[bytes, dict[str, str]]:
    """What the link serves to this browser's session (its cookie), with the headers."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    request = urllib.request.Request(url, headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 200
        return bytes(response.read()), dict(response.headers.items())


def _downloaded(folder: Path, suffix: str, before: set[str]) -> Path:
    """The file the browser has finished saving into ``folder`` since ``before``."""
    found: Path = wait_for(
        lambda: next(
            (p for p in folder.iterdir() if p.suffix == suffix and p.name not in before),
            None,
        ),
        f"the browser to save a {suffix} file",
    )
    return found


def _row_of(browser: WebDriver, line: ExpenseLine) -> WebElement:
    return browser.find_element(By.ID, f"line-{line.public_id}")


def _submit_and_wait(browser: WebDriver, click: Callable[[], None]) -> None:
    page = browser.find_element(By.TAG_NAME, "html")
    click()
    wait(browser, staleness_of(page))


def _balances(rows: list[tuple[str, Decimal, Decimal]]) -> dict[str, tuple[Decimal, Decimal]]:
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal("0.00"), Decimal("0.00")])
    for number, debit, credit in rows:
        totals[number][0] += debit
        totals[number][1] += credit
    return {number: (debit, credit) for number, (debit, credit) in totals.items()}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_finance_uploads_a_report_resolves_its_exceptions_closes_the_period_and_exports_vouchers(
    live_server: Any,
    browser: WebDriver,
    celery_worker_factory: Callable[..., Worker],
    settings: Any,
    tmp_path: Path,
    language: str,
) -> None:
    # --- 1. The company: cards given to employees, spent at a shop; the voucher accounts ------
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    # Every report goes to the worker, however small, so that the page follows its progress.
    settings.EXPENSE_REPORT_INLINE_MAX_BYTES = 0
    acme = books()  # E001: two ¥500 cards (CC-10); E002: one ¥500 card (CC-20)
    acme.spend("E001", "80.00", ref="POS-A1")  # line 1 by reference; line 5 repeats it
    acme.spend("E001", "45.50")  # line 2 by employee and exact amount
    acme.spend("E002", "60.00", ref="POS-B1")  # line 3 claims 66.00
    unclaimed = acme.spend("E001", "33.00", card=1)  # line 6 (30.00, no spend) is linked to it
    acme.spend("E001", "120.00", card=1)  # line 4 names card 1 and claims 125.00
    assert not Card.objects.filter(serial=int(UNKNOWN_SERIAL)).exists()
    mapping_save(
        company=acme.company,
        actor=acme.finance,
        prepaid_account="1123.01",
        prepaid_account_name="预付账款-礼品卡",
        default_expense_account="6602",
        default_expense_account_name="管理费用",
        employee_subledger=True,
        rules=[RuleInput("meals", "CC-20", "6601.03", "销售费用-招待费")],
    )
    device = TOTPDevice.objects.create(user=acme.finance, name="phone", confirmed=True)
    today = days.today()
    month = f"{today:%Y-%m}"
    chinese = language == "zh"
    texts = TEXTS[language]
    report_file = _report_file(
        tmp_path / ("报销单-2026-12.csv" if chinese else "expense-report-2026-12.csv"),
        day=today.isoformat(),
        card1_serial=acme.cards["E001"][1].serial_display,
        chinese=chinese,
    )
    base = live_server.url
    (prefer_chinese if chinese else prefer_english)(browser)

    sign_in(browser, base, acme.finance.email, device=device)
    set_viewport(browser, 1280, 900)  # a laptop
    assert html_lang(browser) == ("zh-hans" if chinese else "en")

    # --- 2. Upload: no worker yet, so the page shows the check waiting ------------------------
    nav_to(browser, "expense_reports")
    wait_for_path(browser, "/expenses/")
    find(browser, "report-new").click()
    wait_for_path(browser, "/expenses/reports/new/")
    browser.find_element(By.NAME, "file").send_keys(str(report_file))
    find(browser, "report-submit").click()
    wait_for_path(browser, lambda p: REPORT_PAGE.fullmatch(p) is not None)
    report = ExpenseReport.objects.get(company=acme.company)
    assert path_of(browser) == f"/expenses/reports/{report.public_id}/"
    assert report.status == ReportStatus.CHECKING
    panel = find(browser, "report-progress")
    assert panel.get_attribute("data-stage") == "checking"
    assert panel.find_element(By.TAG_NAME, "h2").text == texts["checking"]
    assert panel.get_attribute("hx-get") == f"/expenses/reports/{report.public_id}/progress/"
    screenshot(browser, f"expense-journey-{language}-1-checking")

    # --- 3. A worker checks and matches it; the page follows without being touched ------------
    page = browser.find_element(By.TAG_NAME, "html")
    celery_worker_factory(env={"MEDIA_ROOT": str(media)}, concurrency=1, name="expenses")
    wait(browser, staleness_of(page), timeout=60)  # htmx reloads it once the report is done
    wait(
        browser,
        lambda b: (
            "report-status-matched" in (find(b, "report-status").get_attribute("class") or "")
        ),
    )
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="report-progress"]')
    report.refresh_from_db()
    assert report.status == ReportStatus.MATCHED
    assert report.rows_done == report.rows_total
    states = {
        row.find_elements(By.TAG_NAME, "td")[1].text.split("/")[-1].strip(): row.get_attribute(
            "data-state"
        )
        for row in browser.find_elements(By.CSS_SELECTOR, '[data-testid="line-row"]')
    }
    assert states == {
        MATCHED_BY_REFERENCE: LineState.MATCHED,
        MATCHED_BY_EMPLOYEE: LineState.MATCHED,
        DIFFERS_ACCEPTED: LineState.AMOUNT_DIFFERS,
        DIFFERS_BULK: LineState.AMOUNT_DIFFERS,
        DUPLICATE: LineState.DUPLICATE,
        NO_SPEND: LineState.NO_SPEND,
        UNKNOWN: LineState.UNKNOWN,
    }
    assert find(browser, "state-amount_differs").text == texts["differs"]
    lines = {line.line_number: line for line in ExpenseLine.objects.filter(report=report)}
    assert lines[DIFFERS_ACCEPTED].difference == Decimal("6.00")
    assert lines[DIFFERS_BULK].difference == Decimal("5.00")
    assert lines[DUPLICATE].duplicate_of == lines[MATCHED_BY_REFERENCE]
    screenshot(browser, f"expense-journey-{language}-2-matched", full_page=True)

    # --- 4. The period's exception queue: five open exceptions --------------------------------
    nav_to(browser, "expense_periods")
    wait_for_path(browser, "/expenses/periods/")
    row = find(browser, "period-row")
    assert find(browser, "period-open-count").text == "5"
    _submit_and_wait(
        browser, row.find_element(By.CSS_SELECTOR, f'a[href$="/periods/{month}/"]').click
    )
    assert path_of(browser) == f"/expenses/periods/{month}/"
    assert find(browser, "open-exceptions").text.startswith("5 ")
    _submit_and_wait(browser, find(browser, "queue-link").click)
    assert path_of(browser) == f"/expenses/periods/{month}/exceptions/"
    assert browser.find_element(By.TAG_NAME, "h1").text == texts["queue"].format(month=month)
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="exception-row"]')) == 5
    # At a laptop's width, the actions of every line are in view (the table's box does not
    # have to be scrolled sideways to reach Accept).
    overflow = browser.execute_script(
        "const table = document.querySelector('[data-testid=exception-table]');"
        "const box = table.parentElement;"
        "return [box.scrollWidth - box.clientWidth, box.clientWidth, window.innerWidth,"
        " [...table.querySelectorAll('thead th')].map((th) => th.offsetWidth).join(' '),"
        " [...table.querySelectorAll('.exc-act')].map((f) => f.offsetWidth).join(' '),"
        " getComputedStyle(table.querySelector('[data-testid=resolve-form]')).maxWidth]"
    )
    assert overflow[0] <= 0, overflow
    differs = _row_of(browser, lines[DIFFERS_ACCEPTED])
    assert (
        differs.find_element(By.CSS_SELECTOR, '[data-testid="line-state"]').text == texts["state"]
    )
    assert "6.00" in differs.find_element(By.CSS_SELECTOR, '[data-testid="line-difference"]').text
    screenshot(browser, f"expense-journey-{language}-3-queue", full_page=True)

    # --- 5. Resolve: accept with a note, reject, link by hand, bulk accept --------------------
    # Accept the ¥6.00 difference, with a note.
    differs.find_element(By.TAG_NAME, "textarea").send_keys("小费现金支付 / tip paid in cash")
    _submit_and_wait(browser, differs.find_element(By.CSS_SELECTOR, '[data-testid="accept"]').click)
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="exception-row"]')) == 4

    # Reject the duplicate.
    duplicate = _row_of(browser, lines[DUPLICATE])
    assert duplicate.find_elements(By.CSS_SELECTOR, '[data-testid="line-duplicate-of"]')
    duplicate.find_element(By.TAG_NAME, "textarea").send_keys("重复报销 / claimed twice")
    _submit_and_wait(
        browser, duplicate.find_element(By.CSS_SELECTOR, '[data-testid="reject"]').click
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="exception-row"]')) == 3

    # Link the no-spend claim (30.00) by hand to the employee's unclaimed 33.00.
    no_spend = _row_of(browser, lines[NO_SPEND])
    options = no_spend.find_elements(By.CSS_SELECTOR, '[data-testid="candidates"] option')
    assert [o.get_attribute("value") for o in options] == [str(unclaimed.public_id)]
    no_spend.find_element(By.TAG_NAME, "textarea").send_keys("出租车票据 / taxi receipt")
    _submit_and_wait(browser, no_spend.find_element(By.CSS_SELECTOR, '[data-testid="link"]').click)
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="exception-row"]')) == 2

    # Accept the other two at once.
    for line in (lines[DIFFERS_BULK], lines[UNKNOWN]):
        _row_of(browser, line).find_element(By.CSS_SELECTOR, '[data-testid="bulk-tick"]').click()
    browser.find_element(By.ID, "bulk-note").send_keys("部门经理已确认 / approved by the manager")
    browser.find_element(By.CSS_SELECTOR, "#bulk-action option[value='accept']").click()
    _submit_and_wait(browser, find(browser, "bulk-submit").click)
    assert find(browser, "empty-state")
    screenshot(browser, f"expense-journey-{language}-4-resolved")

    for line in lines.values():
        line.refresh_from_db()
    assert lines[DIFFERS_ACCEPTED].resolution == Resolution.ACCEPTED
    assert lines[DIFFERS_ACCEPTED].resolution_note == "小费现金支付 / tip paid in cash"
    assert lines[DUPLICATE].resolution == Resolution.REJECTED
    assert lines[NO_SPEND].state == LineState.MATCHED
    assert [(m.transaction_id, m.amount, m.manual) for m in lines[NO_SPEND].matches.all()] == [
        (unclaimed.pk, Decimal("30.00"), True)
    ]
    assert {lines[DIFFERS_BULK].resolution, lines[UNKNOWN].resolution} == {Resolution.ACCEPTED}
    assert lines[UNKNOWN].resolved_by == acme.finance

    # --- 6. Close the period: the reconciliation report is filed with its SHA-256 -------------
    browser.get(f"{base}/expenses/periods/{month}/")
    assert find(browser, "open-exceptions").text.startswith("0 ")
    _submit_and_wait(
        browser,
        browser.find_element(By.CSS_SELECTOR, '[data-testid="close-form"] button').click,
    )
    assert path_of(browser) == f"/expenses/periods/{month}/"
    assert "period-status-closed" in (find(browser, "period-status").get_attribute("class") or "")
    # What nobody claimed: the ¥3.00 left of the ¥33.00 the taxi claim was linked to.
    assert find(browser, "unclaimed-spend").text == "1 · ¥3.00"
    filed = {r.file_format: r for r in PeriodReport.objects.filter(period__company=acme.company)}
    assert set(filed) == {"xlsx", "pdf"}
    assert filed["xlsx"].period.status == PeriodStatus.CLOSED
    report_rows = browser.find_elements(By.CSS_SELECTOR, '[data-testid="report-row"]')
    assert len(report_rows) == 2
    for report_row in report_rows:
        shown = report_row.find_element(By.CSS_SELECTOR, '[data-testid="report-checksum"]')
        checksum = shown.get_attribute("data-copy-value") or ""
        link = report_row.find_element(By.CSS_SELECTOR, '[data-testid="report-download"]')
        data, headers = _download(browser, link.get_attribute("href") or "")
        assert hashlib.sha256(data).hexdigest() == checksum == headers["X-Content-SHA256"]
        assert checksum in {r.file_sha256 for r in filed.values()}
        assert shown.text.startswith(checksum[:12])
    xlsx_report, _headers = _download(
        browser, f"{base}/expenses/periods/{month}/reports/{filed['xlsx'].public_id}/"
    )
    assert openpyxl.load_workbook(io.BytesIO(xlsx_report)).worksheets
    screenshot(browser, f"expense-journey-{language}-5-closed", full_page=True)

    # --- 7. Vouchers: U8 as CSV, the generic journal as XLSX; each opened and balanced --------
    _submit_and_wait(browser, find(browser, "vouchers-link").click)
    assert path_of(browser) == f"/expenses/periods/{month}/vouchers/"
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="vouchers-provisional"]')
    assert find(browser, "voucher-download").text == texts["download"]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    # Booked: lines 1, 2, 6 (linked) and 4 (accepted) in CC-10; 3 and 7 (accepted) in CC-20.
    expected = {"CC-10": Decimal("280.50"), "CC-20": Decimal("116.00")}

    browser.find_element(By.CSS_SELECTOR, "input[name=layout][value=u8]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=format][value=csv]").click()
    find(browser, "voucher-download").click()
    u8_file = _downloaded(downloads, ".csv", set())
    u8 = list(csv.DictReader(io.StringIO(u8_file.read_bytes().decode("utf-8-sig"), newline="")))
    u8_rows = [
        (row["凭证号"].strip(), Decimal(row["借方金额"] or "0"), Decimal(row["贷方金额"] or "0"))
        for row in u8
    ]
    u8_balances = _balances(u8_rows)
    assert len(u8_balances) == 2
    assert all(debit == credit for debit, credit in u8_balances.values())
    by_cost_center: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for entry in u8:
        if Decimal(entry["借方金额"] or "0"):
            by_cost_center[entry["部门"].strip()] += Decimal(entry["借方金额"])
    assert dict(by_cost_center) == expected
    credits = [entry for entry in u8 if Decimal(entry["贷方金额"] or "0")]
    assert {entry["科目编码"].strip() for entry in credits} == {"1123.01"}

    before = {p.name for p in downloads.iterdir()}
    browser.find_element(By.CSS_SELECTOR, "input[name=layout][value=generic]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=format][value=xlsx]").click()
    find(browser, "voucher-download").click()
    generic_file = _downloaded(downloads, ".xlsx", before)
    sheet = openpyxl.load_workbook(generic_file).worksheets[0]
    header, *body = [list(cells) for cells in sheet.iter_rows(values_only=True)]
    column = {name: index for index, name in enumerate(header)}
    generic_rows = [
        (
            str(cells[column["Document number"]]),
            Decimal(str(cells[column["Debit"]] or 0)),
            Decimal(str(cells[column["Credit"]] or 0)),
        )
        for cells in body
    ]
    generic_balances = _balances(generic_rows)
    assert len(generic_balances) == 2
    assert all(debit == credit for debit, credit in generic_balances.values())
    assert sorted(debit for debit, _credit in generic_balances.values()) == sorted(
        expected.values()
    )
    # The same vouchers, numbered alike in both files.
    assert [number[-1] for number in sorted(generic_balances)] == sorted(u8_balances)
    screenshot(browser, f"expense-journey-{language}-6-vouchers", full_page=True)
