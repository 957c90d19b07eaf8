"""Upload errors read in the reader's language (issue 12, defect 4): the check stored each
row error's reason in the language of the person who uploaded, so an English reader of a file
uploaded by a Chinese-speaking purchaser read the reasons in Chinese (page and API)."""

from __future__ import annotations

import csv
import html
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from cards.models import OrderUpload, UploadStatus
from cards.services.uploads import upload_receive
from portal.models import Role
from tests import factories
from tests.api.helpers import Api, key_for
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

ENGLISH_REASON = "Gift card comes in 100 / 200 / 500 / 1,000."
CHINESE_REASON = "京东礼品卡 的可选面值为 100 / 200 / 500 / 1,000\u3002"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture
def uploaded_in_chinese() -> tuple[Any, dict[str, Any], OrderUpload]:
    company = factories.company()
    people = factories.team(company)
    factories.product(name="京东礼品卡", face_values=["100", "200", "500", "1000"])
    rows = [["产品", "面值", "数量"], ["京东礼品卡", "100", "1"], ["京东礼品卡", "150", "1"]]
    with translation.override("zh-hans"):
        upload = upload_receive(
            company=company,
            actor=people[Role.PURCHASER],
            file=SimpleUploadedFile("orders.csv", _csv(rows)),
        )
    upload.refresh_from_db()
    assert upload.status == UploadStatus.INVALID
    return company, people, upload


def _page(people: dict[str, Any], upload: OrderUpload, language: str) -> str:
    client = Client(headers={"accept-language": language})
    sign_in(client, people[Role.PURCHASER], second_factor=False)
    response = client.get(f"/orders/uploads/{upload.public_id}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_an_english_reader_reads_a_chinese_uploaders_errors_in_english(uploaded_in_chinese):
    company, people, upload = uploaded_in_chinese

    page = _page(people, upload, "en")
    assert ENGLISH_REASON in page
    assert CHINESE_REASON not in page

    api = Api(key_for(company, people[Role.PURCHASER]), language="en")
    body = api.get(f"/api/v1/order-uploads/{upload.public_id}").json()
    assert [(e["row"], e["reason"]) for e in body["result"]["errors"]] == [(3, ENGLISH_REASON)]


def test_a_chinese_reader_reads_them_in_chinese(uploaded_in_chinese):
    _company, people, upload = uploaded_in_chinese

    page = _page(people, upload, "zh-hans")

    assert CHINESE_REASON in page
    assert ENGLISH_REASON not in page


def test_errors_stored_as_text_before_still_read_as_stored(uploaded_in_chinese):
    _company, people, upload = uploaded_in_chinese
    old = {"row": 3, "column": "面值", "value": "150", "reason": "旧的原因"}
    OrderUpload.objects.filter(pk=upload.pk).update(result={**upload.result, "errors": [old]})

    assert "旧的原因" in _page(people, upload, "en")


def test_notes_and_warnings_read_in_the_readers_language_too():
    company = factories.company()
    people = factories.team(company)
    factories.product(name="京东礼品卡", face_values=["100", "200", "500", "1000"])
    rows = [
        ["产品", "面值", "数量", "手机", "备用"],
        ["京东礼品卡", "100", "1", "13800138000", "x"],
        ["京东礼品卡", "100", "1", "13800138000", "y"],
        ["", "", "", "", ""],
        ["京东礼品卡", "100", "1", "13900139000", "z"],
    ]
    with translation.override("zh-hans"):
        upload = upload_receive(
            company=company,
            actor=people[Role.PURCHASER],
            file=SimpleUploadedFile("orders.csv", _csv(rows)),
        )
    upload.refresh_from_db()

    page = _page(people, upload, "en")

    assert "Columns not used: “备用”." in page
    assert "Row 4 is blank; skipped." in page
    assert "Rows 2 and 3 have the same" in page
