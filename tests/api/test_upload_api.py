"""Order files through the API: a small file is checked at once (201 with the result), a large
one by a real worker (202, then polled); the error file in CSV or XLSX; confirm with an
Idempotency-Key creates one draft order, and a replay returns that same order. Every look-up is
scoped to the key's company and needs the orders:write scope."""

# mypy: disable-error-code="union-attr, index"

from __future__ import annotations

import codecs
import csv
import io
import time
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cards.models import Order, OrderStatus, OrderUpload, UploadStatus
from portal.models import ApiKey, Role
from tests import factories
from tests.api.helpers import Api, buyer, key_for

pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing")]

UPLOADS = "/api/v1/order-uploads"
HEADER = ["Product", "Face value", "Quantity", "Name", "Mobile"]
GOOD = [["Gift card", "100", "2", "Zhang San", "13800138000"], ["礼品卡", "500", "1", "Li Si", ""]]
BAD = [["Gift card", "150", "1", "Zhang San", ""], ["Gift card", "100", "1", "Li Si", "12345"]]


def csv_bytes(rows: list[list[str]], *, copies: int = 1) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([HEADER, *rows * copies])
    return text.getvalue().encode()


def send(key: str, data: bytes, name: str = "orders.csv", **fields: str) -> Any:
    client = Client(headers={"authorization": f"Bearer {key}", "accept-language": "en"})
    return client.post(
        UPLOADS,
        {
            "file": SimpleUploadedFile(name, data),
            "payment_method": "credit",
            "delivery_method": "file",
            **fields,
        },
    )


def confirm(api: Api, upload_id: str, key: str | None, body: dict[str, Any] | None = None) -> Any:
    return api.post(f"{UPLOADS}/{upload_id}/confirm", body or {}, idempotency_key=key)


@pytest.fixture
def product() -> Any:
    return factories.product()


# --- Checked at once -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_small_file_is_checked_at_once_and_confirmed_once_per_idempotency_key(
    product: Any,
) -> None:
    acme = buyer(approval_threshold="100000.00")
    key = acme.keys[Role.PURCHASER]

    response = send(key, csv_bytes(GOOD))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == UploadStatus.VALID
    assert body["progress"]["finished"] is True
    assert body["result"]["card_count"] == 3
    assert body["result"]["total"] == "700.00"
    assert [(t["face_value"], t["cards"]) for t in body["result"]["totals"]] == [
        ("100.00", 2),
        ("500.00", 1),
    ]
    assert body["errors_url"] is None
    assert response["Location"] == body["poll_url"] == f"{UPLOADS}/{body['id']}"
    upload = OrderUpload.objects.get(public_id=body["id"])
    assert upload.created_via_key == ApiKey.objects.get(user=acme.people[Role.PURCHASER])

    api = acme.api(Role.PURCHASER)
    assert confirm(api, body["id"], None).status_code == 400
    assert not Order.objects.exists()

    first = confirm(api, body["id"], "upload-confirm-1")
    again = confirm(api, body["id"], "upload-confirm-1")

    assert first.status_code == 201, first.json()
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    order = Order.objects.get()
    assert order.number == first.json()["number"]
    assert order.status == OrderStatus.DRAFT
    assert order.card_count == 3
    assert first.json()["total"] == "700.00"
    assert api.get(f"{UPLOADS}/{body['id']}").json()["order"] == order.number
    # Another key for the same upload: it is confirmed now, so nothing more is created.
    late = confirm(api, body["id"], "upload-confirm-2")
    assert late.status_code == 400
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_a_file_with_errors_reports_each_and_serves_the_error_file(product: Any) -> None:
    acme = buyer()
    response = send(acme.keys[Role.PURCHASER], csv_bytes(BAD))

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == UploadStatus.INVALID
    assert body["error_count"] == 2
    errors = body["result"]["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [
        (2, "Face value", "150"),
        (3, "Mobile", "12345"),
    ]
    assert all(e["reason"] for e in errors)
    api = acme.api(Role.PURCHASER)

    as_csv = api.get(body["errors_url"])
    as_xlsx = api.get(body["errors_url"], format="xlsx")

    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    assert as_csv.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == [*HEADER, "error"]
    assert rows[1][:2] == ["Gift card", "150\t"]  # made only of digits: kept text (docs/exports.md)
    assert rows[1][-1].startswith("Face value: ")
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [c.value for c in next(sheet.iter_rows())] == [*HEADER, "error"]
    assert api.get(body["errors_url"], format="pdf").status_code == 404
    refused = confirm(api, body["id"], "k-1")
    assert refused.status_code == 400
    assert refused.json()["code"] == "not_valid"
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_the_same_file_twice_needs_allow_duplicate(product: Any) -> None:
    acme = buyer(approval_threshold="100000.00")
    key, api = acme.keys[Role.PURCHASER], acme.api(Role.PURCHASER)
    first = send(key, csv_bytes(GOOD)).json()
    earlier = confirm(api, first["id"], "c-1").json()["number"]
    second = send(key, csv_bytes(GOOD)).json()
    assert second["result"]["duplicate_of"] == [earlier]

    refused = confirm(api, second["id"], "c-2")

    assert refused.status_code == 409
    assert refused.json()["code"] == "duplicate_upload"
    assert earlier in refused.json()["detail"]
    assert Order.objects.count() == 1
    created = confirm(api, second["id"], "c-3", {"allow_duplicate": True})
    assert created.status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_uploads_are_scoped_to_the_keys_company_and_need_orders_write(product: Any) -> None:
    acme = buyer()
    body = send(acme.keys[Role.PURCHASER], csv_bytes(BAD)).json()
    other = buyer()
    outsider = other.api(Role.PURCHASER)

    assert outsider.get(f"{UPLOADS}/{body['id']}").status_code == 404
    assert outsider.get(f"{UPLOADS}/{body['id']}/errors").status_code == 404
    assert confirm(outsider, body["id"], "x-1").status_code == 404
    reader = key_for(acme.company, acme.people[Role.PURCHASER], [ApiKey.Scope.ORDERS_READ])
    assert send(reader, csv_bytes(GOOD)).status_code == 403
    assert Api(reader).get(f"{UPLOADS}/{body['id']}").status_code == 403
    viewer = send(acme.keys[Role.VIEWER], csv_bytes(GOOD))
    assert viewer.status_code == 403
    assert OrderUpload.objects.count() == 1


@pytest.mark.django_db
def test_a_file_refused_before_checking_says_why_and_stores_nothing(product: Any) -> None:
    acme = buyer()

    empty = send(acme.keys[Role.PURCHASER], b"")
    header_only = send(acme.keys[Role.PURCHASER], csv_bytes([]))

    assert empty.status_code == 400
    assert empty.json()["code"] in {"empty", "invalid", "empty_file"}
    assert header_only.status_code == 400
    assert header_only.json()["detail"]
    assert not OrderUpload.objects.exists()


# --- Checked by a worker -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_queued_checked_by_the_worker_and_polled(
    product: Any, settings: Any, celery_worker_process: Any
) -> None:
    settings.UPLOAD_INLINE_MAX_BYTES = 1024
    acme = buyer(approval_threshold="10000000.00", credit="10000000.00")
    data = csv_bytes(GOOD, copies=3000)  # 6,000 rows, about 200 kB
    api = acme.api(Role.PURCHASER)

    response = send(acme.keys[Role.PURCHASER], data)

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == UploadStatus.CHECKING
    assert body["result"] is None
    deadline = time.monotonic() + 60
    while True:
        polled = api.get(body["poll_url"]).json()
        if polled["progress"]["finished"] or time.monotonic() > deadline:
            break
        assert 0 <= polled["progress"]["percent"] < 100
        time.sleep(0.3)
    assert polled["status"] == UploadStatus.VALID, polled
    assert polled["progress"]["percent"] == 100
    assert polled["result"]["card_count"] == 9000
    assert polled["result"]["total"] == "2100000.00"

    created = confirm(api, body["id"], "big-1")

    assert created.status_code == 201, created.json()
    order = Order.objects.get()
    assert order.line_count == 6000
    assert order.card_count == 9000
