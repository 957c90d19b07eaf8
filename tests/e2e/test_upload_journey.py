"""An order file from upload to draft order, in a real browser (issue 5's "done when").

A purchaser opens the upload page from the order list and uploads the CSV that Excel on a
Chinese Windows machine saves (GBK), with two bad rows and a total row. The preview lists each
error by row, column, value and reason; the purchaser downloads the error file (read here with
the browser's session cookie), uploads a fixed XLSX in its place, confirms, and lands on the
draft order with all the lines.
"""

from __future__ import annotations

import csv
import io
import urllib.request
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from cards.models import Order, OrderStatus, OrderUpload, UploadStatus
from portal.models import Role
from tests import factories
from tests.e2e.browse import (
    WAIT,
    find,
    path_of,
    prefer_english,
    screenshot,
    sign_in,
    wait,
    wait_for_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PURCHASER_EMAIL = "hr@spring.example"
HEADER = ["产品", "面值", "数量", "姓名", "手机", "邮箱", "工号", "成本中心", "备注"]
BAD_ROWS = [
    ["礼品卡", "100", "2", "张三", "138 0013 8000", "zhang@example.com", "E001", "人力资源部", ""],
    ["礼品卡", "150", "1", "李四", "13900139000", "", "E002", "人力资源部", ""],
    ["礼品卡", "500", "1", "王五", "12345", "", "E003", "销售部", ""],
    ["合计", "", "4", "", "", "", "", "", ""],
]
FIXED_ROWS = [
    ["礼品卡", "100", "2", "张三", "138 0013 8000", "zhang@example.com", "E001", "人力资源部", ""],
    ["礼品卡", "200", "1", "李四", "13900139000", "", "E002", "人力资源部", ""],
    ["礼品卡", "500", "1", "王五", "13700137000", "", "E003", "销售部", ""],
]


def _gbk_csv(path: Path) -> Path:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([HEADER, *BAD_ROWS])
    path.write_bytes(text.getvalue().encode("gbk"))
    return path


def _xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in FIXED_ROWS:
        sheet.append([int(c) if c.isdigit() and len(c) < 5 else c for c in row])
    book.save(path)
    return path


def _download(browser: WebDriver, url: str) -> bytes:
    """What the link serves to this browser's session (Chromium's headless downloads are not
    reachable from the test; the session cookie is)."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    request = urllib.request.Request(url, headers={"Cookie": cookies, "Accept-Language": "en"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 200
        return bytes(response.read())


def test_purchaser_fixes_a_gbk_file_with_errors_and_confirms_a_draft_order(
    live_server: Any, browser: WebDriver, tmp_path: Path
) -> None:
    # --- 1. A company with credit terms, a product and a purchaser --------------------------
    company = factories.company("杭州春风礼品有限公司", approval_threshold="50000.00")
    factories.credit_line(company, "200000.00")
    factories.product()  # 礼品卡 / Gift card: 100, 200, 500, 1,000
    factories.member(company, Role.PURCHASER, PURCHASER_EMAIL)
    base = live_server.url
    prefer_english(browser)

    sign_in(browser, base, PURCHASER_EMAIL)
    wait_for_path(browser, "/")

    # --- 2. From the order list to the upload page; a GBK CSV with errors ---------------------
    browser.get(base + "/orders/")
    find(browser, "upload-file").click()
    wait_for_path(browser, "/orders/upload/")
    browser.find_element(By.NAME, "file").send_keys(str(_gbk_csv(tmp_path / "员工福利.csv")))
    find(browser, "upload-submit").click()
    wait_for_path(browser, lambda p: p.startswith("/orders/uploads/"))

    bad = OrderUpload.objects.get(company=company)
    assert bad.encoding == "gb18030"
    assert find(browser, "upload-status").text == "Has errors"
    rows = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, '[data-testid="upload-error-row"]')
    ]
    assert [row[:3] for row in rows] == [["3", "面值", "150"], ["4", "手机", "12345"]]
    assert all(row[3] for row in rows)
    assert "Row 5 is a total row" in find(browser, "upload-notes").text
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="upload-confirm"]')
    screenshot(browser, "journey-upload-errors")

    # --- 3. The error file: the rows as sent, with an error column --------------------------
    link = find(browser, "error-file-csv").get_attribute("href")
    assert link
    content = _download(browser, link).decode("utf-8-sig")
    error_rows = list(csv.reader(io.StringIO(content)))
    assert error_rows[0] == [*HEADER, "error"]
    assert error_rows[1][-1] == ""
    # Text of digits only ends with a tab, so that a spreadsheet keeps it as written
    assert error_rows[2][:4] == ["礼品卡", "150\t", "1\t", "李四"]
    assert error_rows[2][-1].startswith("面值: ")
    assert error_rows[3][-1].startswith("手机: ")
    assert error_rows[4][0] == "合计"

    # --- 4. A fixed XLSX replaces it ----------------------------------------------------------
    find(browser, "upload-fixed").click()
    wait_for_path(browser, "/orders/upload/")
    assert "员工福利.csv" in find(browser, "replacing").text
    browser.find_element(By.NAME, "file").send_keys(str(_xlsx(tmp_path / "员工福利-改.xlsx")))
    find(browser, "upload-submit").click()
    wait_for_path(
        browser, lambda p: p.startswith("/orders/uploads/") and str(bad.public_id) not in p
    )
    wait(browser, lambda b: find(b, "upload-status").text == "Ready to confirm")
    assert find(browser, "upload-card-count").text == "4"
    assert find(browser, "upload-total").text == "¥900.00"
    bad.refresh_from_db()
    assert bad.status == UploadStatus.DISCARDED

    # --- 5. Confirm: the draft order with every line -------------------------------------------
    find(browser, "upload-confirm").click()
    wait_for_path(browser, lambda p: p.startswith("/orders/PO"))
    order = Order.objects.get(company=company)
    assert path_of(browser) == f"/orders/{order.number}/"
    assert order.status == OrderStatus.DRAFT
    assert find(browser, "order-status").text == "Draft"
    assert find(browser, "order-total").text == "¥900.00"
    assert order.lines.count() == 3
    assert order.card_count == 4
    assert (
        "was created from 员工福利-改.xlsx"
        in browser.find_element(By.CSS_SELECTOR, ".messages").text
    )
    screenshot(browser, "journey-upload-order")

    # --- 6. The history finds both files, the second with its order ------------------------------
    browser.get(base + "/orders/uploads/")
    table = find(browser, "upload-table").text
    assert "员工福利.csv" in table
    assert "Discarded" in table
    assert order.number in table
