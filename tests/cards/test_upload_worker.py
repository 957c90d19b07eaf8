"""Large order files are checked by a real Celery worker: the upload waits in CHECKING, its
progress moves, and it ends VALID (or FAILED with a reason), never stuck."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import time

import pytest

from cards.models import Order, OrderUpload, UploadStatus
from cards.services.uploads import upload_confirm, upload_progress
from cards.tasks import upload_check
from portal.models import Role
from tests import factories
from tests.cards.test_upload_check import ZH, csv_bytes, receive

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


@pytest.fixture
def worker_media(settings, tmp_path, celery_worker_factory):
    """A worker of this test's own, sharing this test's media folder."""
    media = str(tmp_path / "media")
    settings.MEDIA_ROOT = media
    settings.UPLOAD_INLINE_MAX_BYTES = 1024
    return celery_worker_factory(env={"MEDIA_ROOT": media}, concurrency=1)


def _wait(upload: OrderUpload, seconds: float = 120) -> list[int]:
    """Poll as the page does; the rows_done values seen while checking."""
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progress = upload_progress(upload)
        if progress["finished"]:
            return seen
        seen.append(progress["rows_done"])
        time.sleep(0.02)
    raise AssertionError(f"the check did not finish: {upload_progress(upload)}")


def test_a_large_file_is_checked_in_the_worker_with_moving_progress(worker_media):
    company = factories.company()
    buyer = factories.member(company, Role.PURCHASER)
    factories.product(name="京东礼品卡", face_values=["100", "200"])
    rows = [
        ["京东礼品卡", "100" if i % 2 else "200", "1", f"员工{i}", f"138{i:08d}"]
        for i in range(60_000)
    ]
    upload = receive(company, buyer, csv_bytes([ZH, *rows]))
    assert upload.status == UploadStatus.CHECKING

    seen = _wait(upload)

    upload.refresh_from_db()
    assert upload.status == UploadStatus.VALID, (upload.failure, upload.result.get("errors"))
    assert upload.result["line_count"] == 60_000
    assert upload.result["face_total"] == "9000000.00"
    assert (upload.rows_done, upload.rows_total) == (60_000, 60_000)
    # The page saw the check part-way at least once (it updates every 5,000 rows).
    assert any(0 < done < 60_000 for done in seen), seen
    order = upload_confirm(upload=upload, actor=buyer)
    assert order.line_count == 60_000
    assert order.lines.count() == 60_000
    # A second delivery of the same message does nothing.
    assert upload_check.apply_async((upload.pk,), ignore_result=False).get(timeout=30) == "skipped"


def test_a_file_unreadable_half_way_ends_failed_with_the_row(worker_media):
    company = factories.company()
    buyer = factories.member(company, Role.PURCHASER)
    factories.product(name="京东礼品卡", face_values=["100"])
    good = csv_bytes([ZH, *[["京东礼品卡", "100", "1", "张三"]] * 200])
    data = good + csv_bytes([["京东礼品卡", "100", "1", "李四"]], encoding="gbk")
    upload = receive(company, buyer, data)

    _wait(upload)

    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED
    assert upload.failure.startswith("Row 202 is in another text encoding")
    assert not Order.objects.exists()
