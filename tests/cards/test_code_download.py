"""Delivery by file: a finance user's fresh two-factor check, the password shown once, the
encrypted archive, the download limit and history, and what never leaks."""

from __future__ import annotations

import csv
import gc
import html
import io
import logging
import re
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
import pyzipper
from django.core.signals import got_request_exception
from django.db import connection
from django.test import Client
from django.views.debug import ExceptionReporter
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cards import codes
from cards.models import Card, Chunk, CodeDownload, Order, OrderStatus
from cards.services import code_export, issuance
from cards.services.code_export import CodeExportAction
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from cards.views.delivery import FRESH_2FA_SESSION_KEY
from portal.models import AuditAction, AuditEvent, Company, Role, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

HOSTILE_NAMES = ['=HYPERLINK("http://evil.example","click")', "+1", "@SUM(A1:A9)", "-2+3"]
NEEDS_2FA = {Role.OWNER, Role.APPROVER, Role.FINANCE}


# --- Builders ------------------------------------------------------------------------------------


def fulfilled_order(
    company: Company,
    purchaser: User,
    lines: list[LineInput] | None = None,
    **order_kwargs: Any,
) -> Order:
    """An order whose cards were generated in-process, as the Celery workers would."""
    if lines is None:
        product = factories.product()
        lines = [
            LineInput(product=product, face_value="100", quantity=3, recipient_name="张三"),
            LineInput(product=product, face_value="200", quantity=2, employee_id="E-7"),
        ]
    order = order_create(company=company, actor=purchaser, lines=lines, **order_kwargs)
    order = order_submit(order=order, actor=purchaser)
    assert order.status == OrderStatus.FUNDED, order.status
    order_begin_fulfilment(order_id=order.pk)
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED, order.status
    return order


def current_code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def wrong_code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    accepted = set()
    for offset in (-2, -1, 0, 1, 2):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time() + offset * device.step
        accepted.add(f"{totp.token():06d}")
    return next(c for c in (f"{n:06d}" for n in range(1, 100)) if c not in accepted)


def reset_replay_guard(user: User) -> None:
    """Let the same 30-second code pass again (django-otp refuses a code used before)."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1)


def page_text(response: Any) -> str:
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(body)).strip()


def hidden(response: Any, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def shown_password(response: Any) -> str:
    """The password as the page shows it: the text of its groups, without the markup."""
    match = re.search(
        r'data-testid="archive-password"[^>]*>(.*?)</code>', response.content.decode(), re.S
    )
    assert match, "no password on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


@dataclass
class Shop:
    company: Company
    people: dict[str, User]
    order: Order

    def client(self, role: str) -> Client:
        client = Client()
        sign_in(client, self.people[role], second_factor=role in NEEDS_2FA)
        return client

    @property
    def codes_url(self) -> str:
        return f"/orders/{self.order.number}/codes/"

    @property
    def archive_url(self) -> str:
        return f"/orders/{self.order.number}/codes/archive/"

    def start(self, client: Client, *, code: str | None = None, seen: int | None = None) -> Any:
        """Post the form of the download page (with the current code unless one is given)."""
        data: dict[str, Any] = {
            "seen": CodeDownload.objects.filter(order=self.order).count() if seen is None else seen
        }
        if code != "":
            data["token"] = code if code is not None else current_code(self.people[Role.FINANCE])
        return client.post(self.codes_url, data, REMOTE_ADDR="203.0.113.9")

    def download(self, client: Client) -> tuple[str, bytes]:
        """A whole download: fresh check, password page, archive. (password, archive bytes)"""
        ready = self.start(client)
        assert ready.status_code == 200, page_text(ready)
        password = shown_password(ready)
        archive = client.post(self.archive_url, {"ticket": hidden(ready, "ticket")})
        assert archive.status_code == 200, archive.status_code
        return password, archive.getvalue()


@pytest.fixture
def shop(settings: Any) -> Shop:
    settings.ISSUANCE_CHUNK_SIZE = 4
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    people = factories.team(company)
    product = factories.product()
    lines = [
        LineInput(
            product=product,
            face_value="100",
            quantity=2,
            recipient_name=HOSTILE_NAMES[0],
            employee_id=HOSTILE_NAMES[1],
            cost_center=HOSTILE_NAMES[2],
        ),
        LineInput(product=product, face_value="200", quantity=3, recipient_name=HOSTILE_NAMES[3]),
        LineInput(product=product, face_value="500", quantity=4, recipient_name="王小明"),
    ]
    order = fulfilled_order(company, people[Role.PURCHASER], lines)
    return Shop(company=company, people=people, order=order)


def members(archive: bytes, password: str) -> dict[str, bytes]:
    with pyzipper.AESZipFile(io.BytesIO(archive)) as zf:
        zf.setpassword(password.encode())
        return {info.filename: zf.read(info.filename) for info in zf.infolist()}


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_rows(data: bytes) -> list[list[Any]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    rows = [list(row) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return rows


def expected_cards(order: Order) -> dict[str, str]:
    """serial -> code, revealed directly."""
    return {
        card.serial_display: codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        for card in Card.objects.filter(batch__order=order)
    }


# --- Who may download ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.APPROVER, Role.VIEWER])
def test_only_owners_and_finance_members_can_open_the_download_page(shop, role):
    client = shop.client(role)

    assert client.get(shop.codes_url).status_code == 403
    response = shop.start(client, code="123456")

    assert response.status_code == 403
    assert "Only owners and finance members can download card codes" in page_text(response)
    assert not CodeDownload.objects.exists()


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.APPROVER, Role.VIEWER])
def test_the_service_refuses_anyone_but_owners_and_finance(shop, role):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied, match="Only owners and finance members"):
        code_export.code_export_start(order=shop.order, user=shop.people[role])


def test_a_sole_owner_pays_and_downloads_the_codes(settings):
    """Issue 11, defect 13: a company whose only member is its owner gets its codes (an owner
    can do everything in their company)."""
    settings.ISSUANCE_CHUNK_SIZE = 4
    company = factories.company("Solo Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    owner = factories.member(company, Role.OWNER)
    order = fulfilled_order(company, owner)
    solo = Shop(company=company, people={Role.OWNER: owner, Role.FINANCE: owner}, order=order)
    client = solo.client(Role.OWNER)

    page = client.get(f"/orders/{order.number}/")
    assert f'href="{solo.codes_url}"' in page.content.decode()
    password, archive = solo.download(client)

    rows = csv_rows(members(archive, password)[f"{order.number}-codes.csv"])
    assert len(rows) == 1 + 5
    assert CodeDownload.objects.get().user == owner


def test_when_no_download_is_left_the_panel_says_why(shop):
    for _n in range(3):
        CodeDownload.objects.create(
            order=shop.order, user=shop.people[Role.FINANCE], card_count=9, ip="203.0.113.9"
        )
    page = shop.client(Role.OWNER).get(f"/orders/{shop.order.number}/")
    text = page_text(page)
    assert "0 of 3 downloads left" in text
    assert 'data-testid="download-codes"' not in page.content.decode()
    assert "have already been downloaded 3 times, the most allowed (3)" in text
    assert shop.people[Role.FINANCE].email in text  # and by whom


def test_another_companys_order_is_not_found(shop):
    other = factories.company()
    outsider = factories.member(other, Role.FINANCE)
    client = Client()
    sign_in(client, outsider, second_factor=True)

    assert client.get(shop.codes_url).status_code == 404
    assert shop.start(client, code=current_code(outsider)).status_code == 404
    assert client.post(shop.archive_url, {"ticket": "x"}).status_code == 404


# --- The fresh second factor ---------------------------------------------------------------------


def test_a_verified_session_alone_is_not_enough(shop):
    client = shop.client(Role.FINANCE)

    page = client.get(shop.codes_url)
    assert page.status_code == 200
    assert 'name="token"' in page.content.decode()
    response = shop.start(client, code="")

    assert response.status_code == 200
    assert "This field is required" in page_text(response)
    assert 'data-testid="archive-password"' not in response.content.decode()
    assert not CodeDownload.objects.exists()


def test_a_wrong_code_is_refused_and_recorded(shop, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = shop.client(Role.FINANCE)

    response = shop.start(client, code=wrong_code(shop.people[Role.FINANCE]))

    assert response.status_code == 200
    assert "That code is wrong or was already used" in page_text(response)
    assert not CodeDownload.objects.exists()
    assert AuditEvent.objects.filter(
        action=AuditAction.TWO_FACTOR_FAILED, actor=shop.people[Role.FINANCE]
    ).exists()


def test_a_fresh_check_counts_for_a_few_minutes_then_a_new_code_is_needed(shop, settings):
    settings.CODE_REVEAL_2FA_MINUTES = 5
    client = shop.client(Role.FINANCE)
    shop.download(client)

    # Within the window: no code asked.
    assert 'name="token"' not in client.get(shop.codes_url).content.decode()
    assert shop.start(client, code="").status_code == 200
    assert CodeDownload.objects.count() == 2

    session = client.session
    session[FRESH_2FA_SESSION_KEY] = time.time() - 5 * 60 - 1
    session.save()
    assert 'name="token"' in client.get(shop.codes_url).content.decode()
    response = shop.start(client, code="")
    assert "This field is required" in page_text(response)
    assert CodeDownload.objects.count() == 2


# --- The archive ---------------------------------------------------------------------------------


def test_the_archive_opens_with_the_shown_password_and_holds_exactly_the_orders_cards(shop):
    other_order = fulfilled_order(shop.company, shop.people[Role.PURCHASER])
    client = shop.client(Role.FINANCE)

    ready = shop.start(client)
    assert ready.status_code == 200
    assert "no-store" in ready["Cache-Control"]
    password = shown_password(ready)
    assert len(password) == 20
    archive = client.post(shop.archive_url, {"ticket": hidden(ready, "ticket")})

    assert archive.status_code == 200
    assert archive["Content-Type"] == "application/zip"
    assert "no-store" in archive["Cache-Control"]
    assert f'filename="{shop.order.number}-codes.zip"' in archive["Content-Disposition"]
    files = members(archive.getvalue(), password)
    number = shop.order.number
    assert set(files) == {f"{number}-codes.csv", f"{number}-codes.xlsx"}

    expected = expected_cards(shop.order)
    assert len(expected) == 9
    assert not set(expected) & set(expected_cards(other_order))

    csv_data = files[f"{number}-codes.csv"]
    assert csv_data.startswith(b"\xef\xbb\xbf")
    rows = csv_rows(csv_data)
    assert rows[0] == [
        "Serial",
        "Code",
        "Face value (CNY)",
        "Expires",
        "Recipient",
        "Employee ID",
        "Cost center",
        "Order line",
    ]
    # Serials stay text in a spreadsheet: made only of digits, they end with a tab in CSV.
    assert all(row[0].endswith("\t") and len(row[0]) == 17 for row in rows[1:])
    body = [[row[0].removesuffix("\t"), *row[1:]] for row in rows[1:]]
    assert [row[0] for row in body] == sorted(expected)
    assert {row[0]: row[1] for row in body} == expected
    assert [row[2] for row in body] == ["100.00"] * 2 + ["200.00"] * 3 + ["500.00"] * 4
    assert [row[7] for row in body] == ["1"] * 2 + ["2"] * 3 + ["3"] * 4
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[3]) for row in body)
    assert "王小明" in {row[4] for row in body}

    sheet = xlsx_rows(files[f"{number}-codes.xlsx"])
    assert sheet[0] == rows[0]
    assert {row[0]: row[1] for row in sheet[1:]} == expected
    assert [row[0] for row in sheet[1:]] == sorted(expected)
    assert all(isinstance(row[0], str) and len(row[0]) == 16 for row in sheet[1:])


def test_a_wrong_password_does_not_open_the_archive(shop):
    _password, archive = shop.download(shop.client(Role.FINANCE))

    with pytest.raises(RuntimeError, match=r"(?i)password"):
        members(archive, "not-the-password-at-all")
    with pyzipper.AESZipFile(io.BytesIO(archive)) as zf:
        assert all(info.flag_bits & 0x1 for info in zf.infolist())  # every member encrypted


def test_cells_that_would_start_a_formula_are_neutralised_in_csv_and_xlsx(shop):
    password, archive = shop.download(shop.client(Role.FINANCE))
    files = members(archive, password)
    number = shop.order.number
    csv_cells = {cell for row in csv_rows(files[f"{number}-codes.csv"]) for cell in row[4:7]}
    sheet = xlsx_rows(files[f"{number}-codes.xlsx"])
    xlsx_cells = {cell for row in sheet for cell in row[4:7] if cell}

    for value in HOSTILE_NAMES:
        assert "'" + value in csv_cells
        assert "'" + value in xlsx_cells
        assert value not in csv_cells | xlsx_cells
    workbook = openpyxl.load_workbook(io.BytesIO(files[f"{number}-codes.xlsx"]))
    assert not [c for row in workbook.active.iter_rows() for c in row if c.data_type == "f"]


# --- Limit, history, audit -----------------------------------------------------------------------


def test_downloads_beyond_the_limit_are_refused_naming_the_limit_and_who_downloaded(shop, settings):
    settings.CODE_DOWNLOAD_LIMIT = 2
    client = shop.client(Role.FINANCE)
    shop.download(client)
    shop.download(client)

    page = client.get(shop.codes_url)
    assert "downloaded 2 times, the most allowed" in page_text(page)
    response = shop.start(client, code="")

    assert CodeDownload.objects.filter(order=shop.order).count() == 2
    text = page_text(response)
    assert "the most allowed (2)" in text
    assert shop.people[Role.FINANCE].email in text
    assert 'data-testid="archive-password"' not in response.content.decode()


def test_a_download_page_left_open_does_not_spend_a_second_download(shop):
    client = shop.client(Role.FINANCE)
    shop.download(client)

    response = shop.start(client, code="", seen=0)

    assert "downloaded since you opened this page" in page_text(response)
    assert CodeDownload.objects.count() == 1


def test_each_download_is_audited_with_counts_only_and_listed_to_the_owner(shop):
    finance = shop.people[Role.FINANCE]
    shop.download(shop.client(Role.FINANCE))

    download = CodeDownload.objects.get()
    assert (download.user, download.card_count, download.via_api, download.ip) == (
        finance,
        9,
        False,
        "203.0.113.9",
    )
    started = AuditEvent.objects.get(action=CodeExportAction.CODES_DOWNLOADED)
    assert started.actor == finance
    assert started.company == shop.company
    assert started.object_id == str(shop.order.public_id)
    assert started.changes["cards"] == 9
    assert started.changes["via_api"] is False
    fetched = AuditEvent.objects.get(action=CodeExportAction.CODES_ARCHIVE_FETCHED)
    assert fetched.object_id == str(download.public_id)

    owner_page = shop.client(Role.OWNER).get(f"/orders/{shop.order.number}/")
    text = page_text(owner_page)
    assert 'data-testid="download-row"' in owner_page.content.decode()
    assert finance.email in text
    assert "203.0.113.9" in text
    assert "2 of 3 downloads left" in text
    assert "Downloaded the card codes" in text  # the order's history
    assert f'href="{shop.codes_url}"' in owner_page.content.decode()

    finance_page = shop.client(Role.FINANCE).get(f"/orders/{shop.order.number}/")
    assert f'href="{shop.codes_url}"' in finance_page.content.decode()
    purchaser_page = shop.client(Role.PURCHASER).get(f"/orders/{shop.order.number}/")
    assert 'data-testid="code-downloads"' not in purchaser_page.content.decode()


def test_an_order_not_ready_or_delivered_to_recipients_cannot_be_downloaded(shop):
    client = shop.client(Role.FINANCE)
    Order.objects.filter(pk=shop.order.pk).update(status=OrderStatus.FULFILLING)
    page = client.get(shop.codes_url)
    assert "once all its cards are ready" in page_text(page)
    assert "can be downloaded once all its cards are ready" in page_text(shop.start(client))

    Order.objects.filter(pk=shop.order.pk).update(
        status=OrderStatus.FULFILLED, delivery_method="recipients"
    )
    assert "sent to each recipient" in page_text(shop.start(client, code=""))
    assert not CodeDownload.objects.exists()


# --- The ticket ----------------------------------------------------------------------------------


def test_the_ticket_works_once(shop):
    client = shop.client(Role.FINANCE)
    ready = shop.start(client)
    ticket = hidden(ready, "ticket")
    assert client.post(shop.archive_url, {"ticket": ticket}).status_code == 200

    again = client.post(shop.archive_url, {"ticket": ticket})

    assert again.status_code == 204  # the browser stays on the password page
    assert AuditEvent.objects.filter(action=CodeExportAction.CODES_ARCHIVE_FETCHED).count() == 1


def test_a_ticket_that_is_tampered_with_expired_or_someone_elses_is_refused(shop, monkeypatch):
    client = shop.client(Role.FINANCE)
    ready = shop.start(client)
    ticket = hidden(ready, "ticket")

    tampered = client.post(shop.archive_url, {"ticket": ticket[:-2] + "xx"})
    assert tampered.status_code == 410
    assert "expired or was already fetched" in page_text(tampered)

    colleague = factories.member(shop.company, Role.FINANCE)
    other = Client()
    sign_in(other, colleague, second_factor=True)
    assert other.post(shop.archive_url, {"ticket": ticket}).status_code == 410

    monkeypatch.setattr(code_export, "TICKET_MAX_AGE", -1)
    assert client.post(shop.archive_url, {"ticket": ticket}).status_code == 410
    assert not AuditEvent.objects.filter(action=CodeExportAction.CODES_ARCHIVE_FETCHED).exists()


def test_a_member_who_lost_the_finance_role_cannot_use_their_ticket(shop):
    client = shop.client(Role.FINANCE)
    ready = shop.start(client)
    shop.company.memberships.filter(user=shop.people[Role.FINANCE]).update(role=Role.VIEWER)

    assert client.post(shop.archive_url, {"ticket": hidden(ready, "ticket")}).status_code == 403


# --- Never ---------------------------------------------------------------------------------------


def test_the_password_is_stored_nowhere_and_never_in_a_url(shop, caplog):
    caplog.set_level(logging.DEBUG)
    client = shop.client(Role.FINANCE)
    ready = shop.start(client)
    password = shown_password(ready)
    ticket = hidden(ready, "ticket")
    archive = client.post(shop.archive_url, {"ticket": ticket})
    archive.getvalue()

    assert password not in ticket
    for download in CodeDownload.objects.values():
        assert password not in repr(download)
    for event in AuditEvent.objects.values():
        assert password not in repr(event)
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_data FROM django_session")
        assert all(password not in row[0] for row in cursor.fetchall())
    page = ready.content.decode()
    assert password not in "".join(re.findall(r'(?:href|action|src)="([^"]*)"', page))
    assert password not in caplog.text
    # Nor any code.
    for code in expected_cards(shop.order).values():
        assert code not in caplog.text
        assert code not in repr(list(AuditEvent.objects.values()))
        assert code not in page


# --- Memory --------------------------------------------------------------------------------------


def _traced_archive_peak(company: Company, people: dict[str, User], count: int) -> int:
    product = factories.product(face_values=["1"])
    order = fulfilled_order(
        company,
        people[Role.PURCHASER],
        [LineInput(product=product, face_value="1", quantity=count, recipient_name="李四")],
        registration=factories.registration() if count >= 10_000 else None,
    )
    download, password = code_export.code_export_start(order=order, user=people[Role.FINANCE])
    gc.collect()
    tracemalloc.start()
    try:
        with tempfile.TemporaryFile() as out:
            written = code_export.code_archive_write(
                download=download, password=password, fileobj=out
            )
            size = out.tell()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == count
    assert size > count * 50  # the codes are in there (they do not compress)
    return peak


def test_the_archive_is_written_with_flat_memory(settings):
    """Ten times the cards, the same memory: nothing grows with the order (no list of rows,
    no archive in memory; the archive of 20,000 cards alone is about 1.5 MB)."""
    settings.ISSUANCE_CHUNK_SIZE = 10_000
    company = factories.company(approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    people = factories.team(company)

    small = _traced_archive_peak(company, people, 2_000)
    large = _traced_archive_peak(company, people, 20_000)

    assert large < 30 * 1024 * 1024, f"peak {large / 1e6:.1f} MB"
    assert large - small < 1024 * 1024, f"{small / 1e6:.1f} MB -> {large / 1e6:.1f} MB"


def test_a_failure_while_writing_the_archive_reports_no_code_and_keeps_the_ticket(
    shop, monkeypatch
):
    client = shop.client(Role.FINANCE)
    client.raise_request_exception = False
    ready = shop.start(client)
    password = shown_password(ready)
    ticket = hidden(ready, "ticket")
    reports: list[str] = []

    def report(sender: Any, request: Any, **kwargs: Any) -> None:
        # What the error e-mail to the admins would hold: every frame and its variables.
        exc_type, exc_value, tb = sys.exc_info()
        reporter = ExceptionReporter(request, exc_type, exc_value, tb, is_email=True)
        reports.append(reporter.get_traceback_text() + reporter.get_traceback_html())

    calls = []

    def failing_writerow(self: Any, row: Any) -> None:
        calls.append(row)
        if len(calls) == 3:
            raise OSError("disk full")

    monkeypatch.setattr("portal.exports.XlsxWriter.writerow", failing_writerow)
    got_request_exception.connect(report)
    try:
        failed = client.post(shop.archive_url, {"ticket": ticket})
    finally:
        got_request_exception.disconnect(report)

    assert failed.status_code == 500
    (text,) = reports
    assert "disk full" in text
    assert "code_archive_write" in text
    for code in expected_cards(shop.order).values():
        assert code not in text
        assert code not in failed.content.decode()
    assert password not in text
    assert ticket not in text
    assert not AuditEvent.objects.filter(action=CodeExportAction.CODES_ARCHIVE_FETCHED).exists()

    monkeypatch.undo()
    assert client.post(shop.archive_url, {"ticket": ticket}).status_code == 200
