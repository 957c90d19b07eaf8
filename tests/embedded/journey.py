"""The newcomer's path, driven against a running `./dev run` on the embedded default.

Run by ``test_embedded_default.py`` in a process of its own, with the environment of the
`./dev run` it drives: ``PORTAL_VAR_DIR`` (its SQLite database and file broker), ``PORT`` and
``EMAIL_URL`` (a spool directory), and neither ``DATABASE_URL`` nor ``REDIS_URL``. The demo
company's people act through Django's test client on that database; the worker `./dev run`
started generates the cards, builds the statements and sends the emails.

The journey: a purchaser submits an order over the approval threshold; the approver approves it
(its ledger entry dated yesterday 03:00 Beijing time, so that statements have a movement near a
period's edge); the worker generates the cards; finance downloads the code archive and requests
two statements; an order file is uploaded and confirmed; the worker runs the daily receivables
and the ledger check. Each step checks its outcome and prints one line; the last line is
``JOURNEY OK`` and the exit status 0, or the process stops at the first failed check.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import io
import os
import re
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import pyzipper  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp.oath import TOTP  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from billing.models import JournalEntry, LedgerCheck, Statement  # noqa: E402
from cards.models import (  # noqa: E402
    Card,
    CardProduct,
    Order,
    OrderStatus,
    OrderUpload,
    UploadStatus,
)
from portal.celery import app  # noqa: E402
from portal.management.commands.seed_demo import DEMO_COMPANY, DEMO_DOMAIN  # noqa: E402
from portal.models import Company, User  # noqa: E402
from portal.validators import resident_id_check_character  # noqa: E402

WAIT_SECONDS = 180
QUANTITY = 25  # x 1,000 less the demo company's 2% discount: 24,500.00


def step(text: str) -> None:
    print(f"STEP {text}", flush=True)


def check(condition: object, message: str) -> None:
    if not condition:
        print(f"FAILED {message}", flush=True)
        sys.exit(1)


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """Poll ``probe`` until it returns something true; fail after ``WAIT_SECONDS``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.3)
    check(False, f"timed out waiting for {what}")


def signed_in(user: User) -> Client:
    """A client signed in as ``user``, past the sign-in's second factor if the user has one."""
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def current_code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def hidden(body: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', body)
    check(match, f"no hidden field {name} in the page")
    assert match is not None
    return match.group(1)


def person(role: str) -> User:
    return User.objects.get(email=f"{role}@{DEMO_DOMAIN}")


def order_form(product: CardProduct) -> dict[str, str]:
    return {
        "action": "submit",
        "payment_method": "credit",
        "delivery_method": "file",
        "client_reference": "SMOKE-1",
        "note": "",
        "agent_name": "王小明",
        "id_type": "resident_id",
        "id_number": "11010519491231002" + resident_id_check_character("11010519491231002"),
        "contact_phone": "13800138000",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-product": str(product.public_id),
        "lines-0-face_value": "1000",
        "lines-0-quantity": str(QUANTITY),
        "lines-0-recipient_name": "",
        "lines-0-recipient_mobile": "",
        "lines-0-recipient_email": "",
        "lines-0-employee_id": "E-1",
        "lines-0-cost_center": "",
    }


def statement_of(client: Client, start: datetime.date, end: datetime.date) -> Statement:
    response = client.post(
        "/statements/request/", {"period_start": start.isoformat(), "period_end": end.isoformat()}
    )
    check(response.status_code == 302, f"statement request answered {response.status_code}")
    return Statement.objects.get(period_start=start, period_end=end)


def built(statement: Statement) -> Statement:
    def probe() -> Statement | None:
        statement.refresh_from_db()
        return statement if statement.status != Statement.Status.BUILDING else None

    wait_for(f"statement {statement.number}", probe)
    check(
        statement.status == Statement.Status.ISSUED,
        f"statement {statement.number} is {statement.status}: {statement.failure}",
    )
    return statement


def mail_bodies() -> list[str]:
    spool = Path(settings.MAILERS["default"]["OPTIONS"]["file_path"])
    bodies = []
    for path in sorted(spool.rglob("*")):
        if path.is_file():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            part = message.get_body(preferencelist=("plain",))
            text = part.get_content() if part is not None else ""
            bodies.append(f"{message['Subject']}\n{text}")
    return bodies


def email_about(order: Order, word: str) -> str:
    """The email (subject and text) about ``order`` whose subject has ``word``, once sent."""

    def probe() -> str | None:
        found = [
            body
            for body in mail_bodies()
            if order.number in body and word in body.splitlines()[0].lower()
        ]
        return found[0] if found else None

    return str(wait_for(f"the {word} email of {order.number}", probe))


def main() -> None:
    base = f"http://127.0.0.1:{os.environ['PORT']}"
    company = Company.objects.get(credit_code=DEMO_COMPANY[1])
    product = CardProduct.objects.get(name_en="Gift card")
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)

    step("a purchaser submits an order over the approval threshold")
    response = signed_in(person("purchaser")).post("/orders/new/", order_form(product))
    check(response.status_code == 302, f"the order form answered {response.status_code}")
    order = Order.objects.filter(company=company, client_reference="SMOKE-1").get()
    check(order.status == OrderStatus.PENDING_APPROVAL, f"the order is {order.status}")
    check(order.total == Decimal("24500.00"), f"the order's total is {order.total}")
    link = f"{base}/orders/{order.number}/"

    step("the worker emails the approvers: a link to where `./dev run` serves, the amount")
    approval = email_about(order, "approval")
    check(link in approval, f"the approval email does not link to {link}:\n{approval}")
    check(
        approval.count("¥24,500.00") == 2,
        f"the approval email's amount is not ¥24,500.00 in both languages:\n{approval}",
    )

    step("the approver approves it (its ledger entry dated yesterday 03:00 Beijing time)")
    posted_at = datetime.datetime.combine(
        yesterday, datetime.time(3), tzinfo=timezone.get_current_timezone()
    )
    created_at = JournalEntry._meta.get_field("created_at")
    with mock.patch.object(created_at, "_get_default", return_value=posted_at):
        response = signed_in(person("approver")).post(f"/orders/{order.number}/approve/")
    check(response.status_code == 302, f"approval answered {response.status_code}")
    order.refresh_from_db()
    check(order.status != OrderStatus.PENDING_APPROVAL, f"the order is still {order.status}")

    step("the worker generates the cards")

    def fulfilled() -> bool:
        order.refresh_from_db()
        return order.status == OrderStatus.FULFILLED

    wait_for("the cards", fulfilled)
    check(Card.objects.filter(batch__order=order).count() == QUANTITY, "cards missing")
    cards_ready = email_about(order, "ready")
    check(link in cards_ready, f"the cards-ready email does not link to {link}:\n{cards_ready}")

    step("finance downloads the code archive")
    finance = person("finance")
    client = signed_in(finance)
    check(client.get(f"/orders/{order.number}/codes/").status_code == 200, "no download page")
    ready = client.post(
        f"/orders/{order.number}/codes/", {"seen": "0", "token": current_code(finance)}
    )
    body = ready.content.decode()
    # The password is shown in groups (spans), with its whole value for the copy button.
    password = re.search(r'data-testid="archive-password" data-copy-value="([^"]+)"', body)
    check(ready.status_code == 200 and password, "no archive password shown")
    assert password is not None
    archive = client.post(
        f"/orders/{order.number}/codes/archive/", {"ticket": hidden(body, "ticket")}
    )
    check(archive.status_code == 200, f"the archive answered {archive.status_code}")
    with pyzipper.AESZipFile(io.BytesIO(archive.getvalue())) as zf:
        zf.setpassword(password.group(1).encode())
        codes = zf.read(f"{order.number}-codes.csv").decode("utf-8-sig").strip().splitlines()
    check(len(codes) == QUANTITY + 1, f"the archive's CSV has {len(codes)} lines")

    step("finance requests statements; the worker builds them")
    with_it = built(statement_of(client, yesterday - datetime.timedelta(days=2), yesterday))
    check(
        with_it.closing_balance == order.total,
        f"statement to {yesterday}: closing {with_it.closing_balance}, not {order.total}",
    )
    check(with_it.summary["lines"] == 1, f"{with_it.summary['lines']} lines, not the invoice")
    before = yesterday - datetime.timedelta(days=1)
    without = built(statement_of(client, before - datetime.timedelta(days=1), before))
    check(
        without.closing_balance == 0 and without.summary["lines"] == 0,
        f"statement to {before} took the entry made after it ({without.summary})",
    )
    pdf = client.get(f"/statements/{with_it.public_id}/pdf/")
    check(pdf.status_code == 200, f"the statement PDF answered {pdf.status_code}")
    check(pdf.getvalue().startswith(b"%PDF"), "the statement is not a PDF")

    step("a purchaser uploads an order file and confirms it as a draft")
    purchaser = signed_in(person("purchaser"))
    rows = "产品,面值,数量,姓名,手机,邮箱,工号,成本中心,备注\r\n"
    rows += "通用礼品卡,100,2,张三,,,E001,HR,\r\nGift card,200,1,李四,,,E002,HR,\r\n"
    file = SimpleUploadedFile("orders.csv", rows.encode(), content_type="text/csv")
    response = purchaser.post(
        "/orders/upload/", {"file": file, "payment_method": "credit", "delivery_method": "file"}
    )
    check(response.status_code == 302, f"the upload answered {response.status_code}")
    item = OrderUpload.objects.get(company=company)
    check(item.status == UploadStatus.VALID, f"the upload is {item.status}")
    response = purchaser.post(f"/orders/uploads/{item.public_id}/confirm/")
    check(response.status_code == 302, f"confirming the upload answered {response.status_code}")
    draft = Order.objects.get(company=company, status=OrderStatus.DRAFT)
    check(draft.card_count == 3, f"the uploaded order has {draft.card_count} cards, not 3")

    step("the worker runs the daily receivables and the nightly ledger check")
    app.send_task("billing.tasks.receivables_daily", ignore_result=False).get(timeout=WAIT_SECONDS)
    checked = app.send_task("billing.tasks.ledger_check", ignore_result=False).get(
        timeout=WAIT_SECONDS
    )
    check(checked["ok"], f"the ledger check found a drift: {LedgerCheck.objects.last()}")
    print("JOURNEY OK", flush=True)


if __name__ == "__main__":
    main()
