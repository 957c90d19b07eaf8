"""Card issuance with a real Celery worker, seen in a real browser.

1. A funded credit order of three lines, 5,000 cards in all, delivered by file. A finance user
   (TOTP) watches the order page: the progress bars move by themselves while the worker
   generates the cards, and the page turns to "Cards ready" without a manual reload. The
   finance user confirms a fresh authenticator code, sees the archive password once, clicks
   Download; the browser saves the ZIP, which opens with that password and holds 5,000 codes.
2. A small recipients order: the worker generates the cards and emails each recipient a
   one-time link (to the file mail backend). A recipient opens the link, clicks "Show my code"
   and sees the code; after a reload only its last four characters are shown.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pyzipper
from django.db import transaction
from django.db.models import Sum
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings
from selenium.common.exceptions import JavascriptException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from cards import codes
from cards.models import Batch, Card, Chunk, DeliveryMethod, Order, OrderStatus
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_submit
from portal.models import Role
from tests import factories
from tests.e2e.browse import (
    click,
    path_of,
    prefer_english,
    sign_in,
    submit_code,
    text,
    totp_code,
    wait,
    wait_for,
    wait_for_path,
)

if TYPE_CHECKING:
    from conftest import Worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FINANCE_EMAIL = "finance@autumn.example"
QUANTITIES = [2_400, 1_600, 1_000]
TOTAL = sum(QUANTITIES)
CHUNK = 200
HELD = [2_400, 1_600, 800]  # all but the last chunk of the last line
WORKER_ENV = {"ISSUANCE_CHUNK_SIZE": str(CHUNK)}
GENERATION_WAIT = 90
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"
LINK = re.compile(r"/r/([A-Za-z0-9_-]+)/")


def _order_status(order: Order) -> str:
    return str(Order.objects.filter(pk=order.pk).values_list("status", flat=True).get())


def _generated(order: Order) -> int:
    return int(Batch.objects.filter(order=order).aggregate(n=Sum("generated"))["n"] or 0)


def _watch(
    browser: WebDriver, observed: list[list[int]], wanted: Callable[[list[int]], bool]
) -> list[int] | str | None:
    """Note each new state of the bars; the state if ``wanted``, "reloaded" once app.js has
    reloaded the page (the marker is gone), else None."""
    state = _bars(browser)
    if state is None:
        return None
    if not state["marked"]:
        return "reloaded"
    values = [int(v) for v in state["values"]]
    if not observed or observed[-1] != values:
        observed.append(values)
    return values if wanted(values) else None


def _bars(browser: WebDriver) -> dict[str, Any] | None:
    """The progress bars as the page shows them, and a marker that a reload would drop."""
    try:
        state = browser.execute_script(
            "const bars = [...document.querySelectorAll("
            '\'[data-testid="batch-progress"] progress[data-field="bar"]\')];'
            "return {marked: window.__e2eMarker === true,"
            " values: bars.map((b) => Number(b.value)), maxes: bars.map((b) => Number(b.max)),"
            " status: (document.querySelector('[data-testid=\"order-status\"]') || {}).textContent"
            " || ''};"
        )
    except WebDriverException:  # the page is being reloaded
        return None
    return dict(state) if state else None


# --- 1. 5,000 cards by file: live progress, then the encrypted archive --------------------------


def test_finance_watches_5000_cards_being_generated_and_downloads_them(
    live_server: Any,
    browser: WebDriver,
    settings: Settings,
    celery_worker_factory: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    # 2,500,000 CNY of cards would otherwise go to an operator's risk review.
    settings.ORDER_PLATFORM_LIMIT = Decimal("900000000.00")
    settings.ORDER_VELOCITY_MAX_VALUE = Decimal("900000000.00")
    company = factories.company("Ningbo Autumn Gifts Co., Ltd.", approval_threshold="900000000.00")
    factories.credit_line(company, "900000000.00")
    product = factories.product()
    purchaser = factories.member(company, Role.PURCHASER)
    finance = factories.member(company, Role.FINANCE, FINANCE_EMAIL)
    device = TOTPDevice.objects.create(user=finance, name="phone", confirmed=True)
    key = device.bin_key
    base = live_server.url

    # A worker on the default queue only: it starts the fulfilment (batches split into chunks
    # of CHUNK cards) but generates nothing, so the page opens on an order at 0 %.
    starter = celery_worker_factory(env=WORKER_ENV, queues="default", name="starter")

    # --- The finance user signs in with a TOTP code --------------------------------------------
    prefer_english(browser)
    sign_in(browser, base, FINANCE_EMAIL)
    wait_for_path(browser, "/2fa/verify/")
    sign_in_step = TOTP(key).t()
    submit_code(browser, totp_code(key, sign_in_step))
    wait_for_path(browser, "/")

    # --- A funded credit order of three lines, 5,000 cards ------------------------------------
    order = order_create(
        company=company,
        actor=purchaser,
        registration=factories.registration(),
        delivery_method=DeliveryMethod.FILE,
        lines=[
            LineInput(product=str(product.public_id), face_value="100", quantity=quantity)
            for quantity in QUANTITIES
        ],
    )
    order = order_submit(order=order, actor=purchaser)
    assert order.status == OrderStatus.FUNDED
    wait_for(lambda: _order_status(order) == OrderStatus.FULFILLING, "fulfilment to start")

    # --- The order page: three bars at 0, polling ----------------------------------------------
    browser.get(f"{base}/orders/{order.number}/")
    wait_for_path(browser, f"/orders/{order.number}/")
    assert text(browser, "order-status") == "Generating cards"
    panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="order-progress"]')
    assert panel.get_attribute("data-progress-poll") is not None
    browser.execute_script("window.__e2eMarker = true")
    first = _bars(browser)
    assert first is not None
    assert first["maxes"] == QUANTITIES
    assert first["values"] == [0, 0, 0]

    # --- Now a worker that generates: watch the bars without touching the page -----------------
    starter.stop()
    # Hold the order's last chunk with a row lock, so the worker (one process) generates the
    # other 4,800 cards, then waits: the page must show them without being touched. Released,
    # the last chunk follows and app.js reloads the page once the order is ready.
    chunks = Chunk.objects.filter(batch__order=order)
    last_chunk = chunks.order_by("-batch__line__position", "-index").first()
    assert last_chunk is not None
    observed: list[list[int]] = [[0, 0, 0]]
    with transaction.atomic():
        Chunk.objects.select_for_update().get(pk=last_chunk.pk)
        celery_worker_factory(env=WORKER_ENV, concurrency=1, name="generator")
        wait_for(
            lambda: _generated(order) == TOTAL - last_chunk.count, "all but the held chunk", 60
        )
        wait_for(
            lambda: _watch(browser, observed, lambda values: values == HELD),
            f"the page to show {HELD} by itself",
        )
    texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="batch-counts"]')]
    assert texts == ["2,400 of 2,400 cards", "1,600 of 1,600 cards", "800 of 1,000 cards"]
    wait_for(
        lambda: _watch(browser, observed, lambda values: False) == "reloaded",
        "the page to reload by itself",
        GENERATION_WAIT,
    )
    wait(browser, lambda b: text(b, "order-status") == "Cards ready")
    assert _order_status(order) == OrderStatus.FULFILLED
    assert Card.objects.filter(batch__order=order).count() == TOTAL

    sums = [sum(values) for values in observed]
    assert sums == sorted(sums), f"progress went backwards: {observed}"
    # After the reload, every batch is full.
    done = _bars(browser)
    assert done is not None
    assert done["values"] == QUANTITIES == done["maxes"]
    percents = [
        e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-field="percent_text"]')
    ]
    assert percents == ["100.0%"] * 3  # the progress view formats one decimal
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-progress-poll]")
    print(f"bar states seen before the reload: {observed}")  # shown with -s

    # --- The code download: a fresh code (a later time step than the sign-in's) ----------------
    click(browser, "download-codes")
    wait_for_path(browser, f"/orders/{order.number}/codes/")
    # The next step's code: within django-otp's tolerance of one step, and not a replay.
    submit_code(browser, totp_code(key, sign_in_step + 1))
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="archive-password"]'))
    password = text(browser, "archive-password")
    assert len(password) == 20

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    click(browser, "download-archive")
    archive_path: Path = wait_for(
        lambda: next(
            (p for p in downloads.iterdir() if p.suffix == ".zip"),
            None,
        ),
        "the archive to download",
        timeout=60,
    )
    assert archive_path.name == f"{order.number}-codes.zip"
    with pyzipper.AESZipFile(io.BytesIO(archive_path.read_bytes())) as zf:
        zf.setpassword(password.encode())
        files = {info.filename: zf.read(info.filename) for info in zf.infolist()}
    assert set(files) == {f"{order.number}-codes.csv", f"{order.number}-codes.xlsx"}
    rows = list(
        csv.reader(io.StringIO(files[f"{order.number}-codes.csv"].decode("utf-8-sig"), newline=""))
    )
    assert rows[0][:2] == ["Serial", "Code"]
    body = rows[1:]
    assert len(body) == TOTAL
    assert len({row[0] for row in body}) == TOTAL
    # (serials end with a tab in the CSV, so that spreadsheets keep all 16 digits)
    serials = [row[0].strip().replace(" ", "").replace("-", "") for row in body[:50]]
    assert all(codes.luhn_valid(serial) for serial in serials)


# --- 2. Recipients: the one-time link from the email ---------------------------------------------


def _mail_bodies(mail_dir: Path, to: str) -> list[str]:
    """The decoded text of every message to ``to`` that the worker's file backend wrote."""
    bodies = []
    for path in sorted(mail_dir.glob("*.log")):
        for raw in path.read_bytes().split(MAIL_SEPARATOR):
            if not raw.strip():
                continue
            message = email.message_from_bytes(raw, policy=email.policy.default)
            if to not in str(message.get("To", "")):
                continue
            texts = [
                part.get_content()
                for part in message.walk()
                if part.get_content_type() == "text/plain"
            ]
            bodies.append("\n".join(str(t) for t in texts))
    return bodies


def test_a_recipient_opens_the_emailed_link_and_sees_the_code_once(
    live_server: Any,
    browser: WebDriver,
    celery_worker_process: Any,
    mail_dir: Path,
) -> None:
    company = factories.company("Xiamen Harbour Gifts Co., Ltd.", approval_threshold="900000.00")
    factories.credit_line(company, "100000.00")
    product = factories.product()
    purchaser = factories.member(company, Role.PURCHASER)
    recipient = "harbour.recipient@example.com"
    order = order_create(
        company=company,
        actor=purchaser,
        delivery_method=DeliveryMethod.RECIPIENTS,
        lines=[
            LineInput(
                product=str(product.public_id),
                face_value="100",
                quantity=1,
                recipient_name="Wang Xiaoming",
                recipient_email=recipient,
            ),
            LineInput(
                product=str(product.public_id),
                face_value="200",
                quantity=1,
                recipient_name="Li Na",
                recipient_email="harbour.other@example.com",
            ),
        ],
    )
    order = order_submit(order=order, actor=purchaser)
    assert order.status == OrderStatus.FUNDED

    bodies = wait_for(lambda: _mail_bodies(mail_dir, recipient), "the recipient's email", 60)
    match = LINK.search(bodies[-1])
    assert match, bodies[-1]
    token = match.group(1)
    card = Card.objects.get(batch__order=order, face_value=Decimal("100.00"))
    code = codes.reveal(
        serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
    )

    prefer_english(browser)
    browser.get(f"{live_server.url}/r/{token}/")
    wait_for_path(browser, "/r/")
    assert token not in browser.current_url
    assert "Wang Xiaoming" in browser.find_element(By.TAG_NAME, "h1").text
    assert text(browser, "serial") == card.serial_display
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="code"]')
    click(browser, "reveal")
    # (the form's post replaces the page: a script can run while the old one is torn down)
    wait(
        browser,
        lambda b: path_of(b) == "/r/" and b.execute_script("return document.readyState"),
        ignoring=(JavascriptException,),
    )
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="code"], h1'))
    # "Referrer-Policy: no-referrer" here would make Chromium post the form with "Origin: null",
    # which Django's CSRF check refuses (403): the page uses "same-origin".
    assert "CSRF" not in browser.page_source, "Show my code was refused by the CSRF check"
    assert text(browser, "code") == code
    assert "only time the code is shown" in text(browser, "shown-once")

    browser.get(f"{live_server.url}/r/")  # reload the page (a GET, not the POST again)
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="last4"]'))
    assert text(browser, "last4") == f"···{card.last4}"
    assert code not in browser.page_source
    assert "already shown" in text(browser, "already-shown")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="reveal"]')
