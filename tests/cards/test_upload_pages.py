"""The order file pages: a purchaser uploads a file, reads the check's preview (totals, price,
notes, warnings, every error by row, column, value and reason), downloads the error file,
uploads a fixed file, confirms into a draft order or discards; the history lists every upload.
Only owners and purchasers of the company see its uploads; another company's upload is a 404."""

# mypy: disable-error-code="union-attr, index"

from __future__ import annotations

import codecs
import csv
import html
import io
import re
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cards.models import CardProduct, Order, OrderStatus, OrderUpload, UploadStatus
from cards.services.uploads import upload_receive
from portal.models import Company, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

NEEDS_2FA = {Role.OWNER, Role.APPROVER, Role.FINANCE}
HEADER = ["产品", "面值", "数量", "姓名", "手机", "邮箱", "工号", "成本中心", "备注"]


@dataclass
class Shop:
    company: Company
    people: dict[str, User]
    product: CardProduct

    def client(self, role: str) -> Client:
        client = Client()
        sign_in(client, self.people[role], second_factor=role in NEEDS_2FA)
        return client


@pytest.fixture
def shop() -> Shop:
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="100000.00")
    factories.credit_line(company, "500000.00")
    return Shop(company=company, people=factories.team(company), product=factories.product())


def text_of(response: Any) -> str:
    body = re.sub(r"<script.*?</script>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def csv_file(rows: list[list[str]], *, encoding: str = "utf-8", name: str = "orders.csv") -> Any:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([HEADER, *rows])
    return SimpleUploadedFile(name, text.getvalue().encode(encoding), content_type="text/csv")


GOOD_ROWS = [
    ["礼品卡", "100", "2", "张三", "138 0013 8000", "zhang@example.com", "E001", "HR", ""],
    ["Gift card", "\uff15\uff10\uff10", "1", "李四", "+86 139-0013-9000", "", "E002", "HR", ""],
    ["礼品卡", "1,000.00", "3", "王五", "", "", "E003", "Sales", ""],
]
BAD_ROWS = [
    ["礼品卡", "100", "2", "张三", "13800138000", "", "E001", "", ""],
    ["礼品卡", "150", "1", "李四", "", "", "E002", "", ""],
    ["不存在的卡", "100", "1", "王五", "", "", "E003", "", ""],
    ["礼品卡", "-5", "1", '=HYPERLINK("http://evil.example")', "", "", "E004", "", ""],
    ["合计", "", "4", "", "", "", "", "", ""],
]


def upload(client: Client, file: Any, **data: str) -> Any:
    return client.post(
        "/orders/upload/",
        {"file": file, "payment_method": "credit", "delivery_method": "file", **data},
    )


def uploaded(shop: Shop, rows: list[list[str]], role: str = Role.PURCHASER) -> OrderUpload:
    found = upload_receive(
        company=shop.company,
        actor=shop.people[role],
        file=csv_file(rows),
        payment_method="credit",
        delivery_method="file",
    )
    assert isinstance(found, OrderUpload)
    return found


def detail_url(item: OrderUpload) -> str:
    return f"/orders/uploads/{item.public_id}/"


# --- Upload, preview, confirm --------------------------------------------------------------------


def test_a_purchaser_uploads_a_good_file_reads_the_totals_and_confirms_a_draft(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)

    response = upload(client, csv_file(GOOD_ROWS))

    item = OrderUpload.objects.get(company=shop.company)
    assert response.status_code == 302
    assert response["Location"] == detail_url(item)
    assert item.status == UploadStatus.VALID
    page = text_of(client.get(detail_url(item)))
    assert "Ready to confirm" in page
    assert "¥100.00 2 ¥200.00" in page
    assert "¥500.00 1 ¥500.00" in page
    assert "¥1,000.00 3 ¥3,000.00" in page
    assert "Price ¥3,700.00" in page
    assert not Order.objects.exists()

    response = client.post(detail_url(item) + "confirm/")

    order = Order.objects.get(company=shop.company)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.number}/"
    assert order.status == OrderStatus.DRAFT
    assert order.created_by == shop.people[Role.PURCHASER]
    assert order.card_count == 6
    assert list(order.lines.order_by("position").values_list("recipient_name", flat=True)) == [
        "张三",
        "李四",
        "王五",
    ]
    assert order.lines.get(recipient_name="李四").recipient_mobile == "13900139000"
    history = text_of(client.get("/orders/uploads/"))
    assert "orders.csv" in history
    assert order.number in history
    assert "Order created" in history


def test_a_file_with_errors_lists_each_by_row_column_value_and_reason(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)

    upload(client, csv_file(BAD_ROWS))

    item = OrderUpload.objects.get(company=shop.company)
    assert item.status == UploadStatus.INVALID
    response = client.get(detail_url(item))
    page = text_of(response)
    assert "3 errors" in page
    rows = re.findall(
        r'<tr data-testid="upload-error-row"><td class="num">(\d+)</td><td>(.*?)</td>'
        r"<td><code>(.*?)</code></td><td>(.*?)</td>",
        response.content.decode(),
    )
    assert [(row, column, html.unescape(value)) for row, column, value, _r in rows] == [
        ("3", "面值", "150"),
        ("4", "产品", "不存在的卡"),
        ("5", "面值", "-5"),
    ]
    assert all(reason for *_x, reason in rows)
    assert "Row 6 is a total row (“合计”); skipped." in page
    assert "Confirm" not in page.replace("Confirm:", "")
    assert 'data-testid="upload-confirm"' not in response.content.decode()
    # Nothing can be confirmed from it.
    assert client.post(detail_url(item) + "confirm/").status_code == 302
    assert not Order.objects.exists()


def test_the_error_file_has_the_rows_with_an_error_column_neutralised(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)
    upload(client, csv_file(BAD_ROWS))
    item = OrderUpload.objects.get(company=shop.company)

    response = client.get(detail_url(item) + "errors.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = response.content
    assert body.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == [*HEADER, "error"]
    assert rows[1][-1] == ""
    assert rows[2][:2] == ["礼品卡", "150\t"]  # made only of digits: kept text (docs/exports.md)
    assert rows[2][-1].startswith("面值: ")
    assert rows[3][-1].startswith("产品: ")
    assert rows[4][3] == '\'=HYPERLINK("http://evil.example")'
    assert rows[5][-1] == "Row 6 is a total row (“合计”); skipped."

    workbook = client.get(detail_url(item) + "errors.xlsx")
    assert workbook.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == [*HEADER, "error"]
    assert cells[2][-1] == rows[2][-1]


def test_a_fixed_file_replaces_the_bad_one_which_is_discarded(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)
    bad = uploaded(shop, BAD_ROWS)
    page = client.get(f"/orders/upload/?replaces={bad.public_id}")
    assert "it replaces orders.csv" in text_of(page)

    response = upload(client, csv_file(GOOD_ROWS, name="fixed.csv"), replaces=str(bad.public_id))

    fixed = OrderUpload.objects.get(file_name="fixed.csv")
    assert response["Location"] == detail_url(fixed)
    bad.refresh_from_db()
    assert bad.status == UploadStatus.DISCARDED
    assert fixed.status == UploadStatus.VALID


def test_a_file_the_service_refuses_is_shown_on_the_form_and_stores_nothing(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)
    picture = SimpleUploadedFile("orders.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)

    response = upload(client, picture)

    assert response.status_code == 200
    assert "orders.csv" in text_of(response)
    assert 'class="error"' in response.content.decode()
    assert not OrderUpload.objects.exists()


def test_discard_sets_the_upload_aside(shop: Shop) -> None:
    client = shop.client(Role.OWNER)
    item = uploaded(shop, GOOD_ROWS)

    response = client.post(detail_url(item) + "discard/")

    assert response["Location"] == "/orders/uploads/"
    item.refresh_from_db()
    assert item.status == UploadStatus.DISCARDED
    assert "Discarded" in text_of(client.get("/orders/uploads/"))


# --- The same file twice -------------------------------------------------------------------------


def test_the_same_file_again_warns_and_needs_an_explicit_second_order(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)
    first = uploaded(shop, GOOD_ROWS)
    client.post(detail_url(first) + "confirm/")
    earlier = Order.objects.get()
    second = uploaded(shop, GOOD_ROWS)

    page = client.get(detail_url(second))
    assert "Earlier orders from this file" in text_of(page)
    assert earlier.number in text_of(page)
    assert 'name="allow_duplicate"' in page.content.decode()

    refused = client.post(detail_url(second) + "confirm/")

    assert refused.status_code == 409
    assert f"already uploaded and became order {earlier.number}" in text_of(refused)
    assert "create a second order anyway" in text_of(refused)
    assert Order.objects.count() == 1

    created = client.post(detail_url(second) + "confirm/", {"allow_duplicate": "on"})

    assert created.status_code == 302
    assert Order.objects.count() == 2
    second.refresh_from_db()
    assert second.order is not None
    assert second.order != earlier


# --- Who sees what -------------------------------------------------------------------------------


def test_another_companys_member_gets_404_for_every_page_of_an_upload(shop: Shop) -> None:
    item = uploaded(shop, BAD_ROWS)
    other = factories.company("Other Co.")
    outsider = factories.member(other, Role.OWNER)
    client = Client()
    sign_in(client, outsider, second_factor=True)
    base = detail_url(item)

    for path in (base, base + "progress.json", base + "errors.csv", base + "errors.xlsx"):
        assert client.get(path).status_code == 404, path
    for path in (base + "confirm/", base + "discard/"):
        assert client.post(path).status_code == 404, path
    assert client.get(f"/orders/upload/?replaces={item.public_id}").status_code == 404
    assert "orders.csv" not in text_of(client.get("/orders/uploads/"))
    item.refresh_from_db()
    assert item.status == UploadStatus.INVALID


@pytest.mark.parametrize("role", [Role.APPROVER, Role.FINANCE, Role.VIEWER])
def test_only_owners_and_purchasers_upload(shop: Shop, role: str) -> None:
    item = uploaded(shop, GOOD_ROWS)
    client = shop.client(role)

    assert client.get("/orders/upload/").status_code == 403
    assert upload(client, csv_file(GOOD_ROWS)).status_code == 403
    assert client.get(detail_url(item)).status_code == 403
    assert client.post(detail_url(item) + "confirm/").status_code == 403
    assert client.get("/orders/uploads/").status_code == 403
    assert OrderUpload.objects.count() == 1
    assert not Order.objects.exists()


def test_the_order_pages_link_to_the_upload_for_those_who_order(shop: Shop) -> None:
    purchaser = shop.client(Role.PURCHASER)
    assert 'href="/orders/upload/"' in purchaser.get("/orders/").content.decode()
    assert 'href="/orders/upload/"' in purchaser.get("/orders/new/").content.decode()
    viewer = shop.client(Role.VIEWER)
    assert 'href="/orders/upload/"' not in viewer.get("/orders/").content.decode()


# --- Progress of a file checked by a worker ------------------------------------------------------


def test_a_queued_upload_shows_a_progress_bar_polling_its_json(shop: Shop, settings: Any) -> None:
    settings.UPLOAD_INLINE_MAX_BYTES = 10
    client = shop.client(Role.PURCHASER)
    upload(client, csv_file(GOOD_ROWS))
    item = OrderUpload.objects.get()
    assert item.status == UploadStatus.CHECKING

    page = client.get(detail_url(item)).content.decode()
    assert f'data-upload-progress-url="{detail_url(item)}progress.json"' in page
    assert "you can leave it and find the file again in the upload history" in page
    progress = client.get(detail_url(item) + "progress.json").json()
    assert progress["status"] == "checking"
    assert progress["finished"] is False
    assert "Checking" in text_of(client.get("/orders/uploads/"))


# --- Templates and samples -----------------------------------------------------------------------


def test_templates_download_in_both_languages_and_formats(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)

    chinese = client.get("/orders/upload/template-zh-hans.csv")
    english = client.get("/orders/upload/template-en.xlsx")

    assert chinese.status_code == 200
    assert chinese.content.startswith(codecs.BOM_UTF8)
    assert next(csv.reader(io.StringIO(chinese.content.decode("utf-8-sig"))))[:3] == HEADER[:3]
    sheet = openpyxl.load_workbook(io.BytesIO(english.content)).active
    assert [c.value for c in next(sheet.iter_rows())][:3] == ["Product", "Face value", "Quantity"]
    assert client.get("/orders/upload/template-fr.csv").status_code == 404
