"""A client generated from the served OpenAPI document (openapi-python-client, at test time, into
a temporary directory) runs an order end to end against a live server and a real worker: the
catalog, create with an Idempotency-Key and its replay, submit, approval by a second member,
the cards, the invoice PDF, payments, statements, aging, and an order file with its confirm
(replayed too)."""

# mypy: ignore-errors

from __future__ import annotations

import datetime
import hashlib
import importlib
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from billing.models import Statement
from billing.services.statements import statement_build
from tests import factories
from tests.api.helpers import buyer
from tests.billing import statement_data

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing", "celery_worker_process"),
]

PACKAGE = "portal_client"
TIME_LIMIT_SECONDS = 60
# The client has no parser for PDF or ZIP answers; as bytes, they come back as a File.
CLIENT_CONFIG = f"""\
package_name_override: {PACKAGE}
project_name_override: portal-client
content_type_overrides:
  application/pdf: application/octet-stream
  application/zip: application/octet-stream
"""


def generate_client(schema_json: str, directory: Path) -> ModuleType:
    (directory / "schema.json").write_text(schema_json)
    (directory / "config.yaml").write_text(CLIENT_CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(directory / "schema.json"),
            "--config",
            str(directory / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(directory / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout, done.stdout
    sys.path.insert(0, str(directory))
    return importlib.import_module(PACKAGE)


@pytest.fixture
def client_package(tmp_path: Path):
    yield lambda schema_json: generate_client(schema_json, tmp_path)
    sys.path[:] = [entry for entry in sys.path if entry != str(tmp_path)]
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def api(name: str) -> Any:
    group, _sep, _rest = name.partition(".")
    return importlib.import_module(f"{PACKAGE}.api.{group}.{name.replace('.', '_')}")


def wait_for(condition: Any, what: str, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.3)


def test_a_generated_client_runs_an_order_end_to_end(live_server, client_package):
    started = time.monotonic()
    acme = buyer()
    product = factories.product()
    schema_json = requests.get(
        f"{live_server.url}/api/schema/?format=json",
        headers={"Authorization": f"Bearer {acme.keys['viewer']}", "Accept-Language": "zh-hans"},
        timeout=30,
    ).text
    client_module = client_package(schema_json)
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")

    def as_(role: str) -> Any:
        return client_module.AuthenticatedClient(
            base_url=live_server.url, token=acme.keys[role], timeout=30.0
        )

    purchaser, approver, finance = as_("purchaser"), as_("approver"), as_("finance")

    # The catalog
    products = api("products.list").sync(client=purchaser)
    assert [str(p.id) for p in products] == [str(product.public_id)]

    # Create, and replay with the same key: the same order
    body = models.OrderCreateRequest(
        lines=[
            models.OrderLineInputRequest(
                product=str(product.public_id), face_value="100", quantity=20
            )
        ],
        payment_method=models.PaymentMethodEnum.CREDIT,
        delivery_method=models.DeliveryMethodEnum.FILE,
        note="generated client",
    )
    create = api("orders.create")
    created = create.sync_detailed(client=purchaser, body=body, idempotency_key="journey-1")
    assert created.status_code == 201, created.content
    replayed = create.sync_detailed(client=purchaser, body=body, idempotency_key="journey-1")
    assert replayed.status_code == 201, replayed.content
    assert replayed.headers["Idempotent-Replayed"] == "true"
    number = created.parsed.number
    assert replayed.parsed.number == number
    assert created.parsed.status == models.OrderStatusEnum.DRAFT

    # Submit, then approval by another member (an approver)
    submitted = api("orders.submit_create").sync(number, client=purchaser)
    assert submitted.status == models.OrderStatusEnum.PENDING_APPROVAL
    approved = api("orders.approve_create").sync(number, client=approver)
    assert isinstance(approved, models.OrderDetail), approved
    assert approved.approved_by == acme.people["approver"].email

    # The worker generates the cards
    retrieve = api("orders.retrieve")
    done = wait_for(
        lambda: (
            retrieve.sync(number, client=purchaser).status
            in (models.OrderStatusEnum.FULFILLED, models.OrderStatusEnum.DELIVERED)
        ),
        "the cards",
    )
    assert done
    cards = api("orders.cards_list").sync(number, client=purchaser)
    assert len(cards.results) == 20
    assert {card.status for card in cards.results} == {models.CardStatusEnum.ACTIVE}

    # The invoice and its PDF
    invoice_number = retrieve.sync(number, client=purchaser).invoice_number
    assert invoice_number
    invoice = api("invoices.retrieve").sync(invoice_number, client=finance)
    assert invoice.order_number == number
    assert invoice.balance_due == invoice.total
    pdf = api("invoices.pdf_retrieve").sync_detailed(invoice_number, client=finance)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["X-Content-SHA256"] == hashlib.sha256(pdf.content).hexdigest()

    # Payments, statements, aging
    payments = api("payments.list").sync(client=finance)
    assert payments.results == []
    statement_data.invoice(
        acme.company, total="250.00", issued=statement_data.shanghai(2025, 10, 7)
    )
    statement_build(
        company=acme.company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    statements = api("statements.list").sync(client=finance)
    assert len(statements.results) == 1
    statement_id = statements.results[0].id
    for fmt, magic in (("pdf", b"%PDF"), ("xlsx", b"PK")):
        download = api("statements.download_retrieve").sync_detailed(
            statement_id,
            client=finance,
            format_=models.StatementsDownloadRetrieveFormat(fmt),
        )
        assert download.status_code == 200
        assert download.content.startswith(magic)
        assert download.headers["X-Content-SHA256"] == hashlib.sha256(download.content).hexdigest()
    aging = api("aging.retrieve").sync(client=finance)
    assert isinstance(aging, models.Aging), aging
    assert aging.currency == "CNY"
    assert {i.number for i in aging.invoices} >= {invoice_number}

    # An order file, and its confirm (a retry is replayed, not refused)
    csv = b"Product,Face value,Quantity\r\nGift card,100,2\r\n"
    upload = api("order_uploads.create").sync_detailed(
        client=purchaser,
        body=models.OrderUploadCreateRequest(
            file=types.File(payload=csv, file_name="orders.csv", mime_type="text/csv")
        ),
    )
    assert upload.status_code == 201, upload.content
    assert upload.parsed.status == models.OrderUploadStatusEnum.VALID
    assert upload.parsed.progress.status == models.OrderUploadProgressStatusEnum.VALID
    assert upload.parsed.result.error_count == 0
    confirm = api("order_uploads.confirm_create")
    confirm_body = models.OrderUploadConfirmRequest(allow_duplicate=False)
    first = confirm.sync_detailed(
        upload.parsed.id, client=purchaser, body=confirm_body, idempotency_key="upload-1"
    )
    assert first.status_code == 201, first.content
    again = confirm.sync_detailed(
        upload.parsed.id, client=purchaser, body=confirm_body, idempotency_key="upload-1"
    )
    assert again.status_code == 201, again.content
    assert again.parsed.number == first.parsed.number

    elapsed = time.monotonic() - started
    assert elapsed < TIME_LIMIT_SECONDS, f"the journey took {elapsed:.0f} s"
