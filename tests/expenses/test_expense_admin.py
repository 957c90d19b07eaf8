"""The operators' admin of expense reconciliation: every page opens and shows the rows, nothing
can be added, changed or deleted there, no secret appears, and a filed report downloads as
stored (checked against its SHA-256)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from expenses.models import (
    ExpenseLine,
    ExpenseReport,
    LineState,
    PeriodReport,
    ReconciliationPeriod,
)
from expenses.services.closing import period_close
from expenses.services.resolution import line_reject
from portal.models import User
from tests.conftest import sign_in
from tests.expenses.resolution_data import Books, books

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

MODELS = [ExpenseReport, ExpenseLine, ReconciliationPeriod, PeriodReport]


@pytest.fixture
def closed(settings: Any, tmp_path: Any) -> Books:
    """A closed period with a matched line and a rejected one, filed with its report."""
    settings.ISSUANCE_CHUNK_SIZE = 10
    settings.MEDIA_ROOT = str(tmp_path)
    acme = books()
    tx = acme.spend("E001", "60.00")
    acme.line("60.00", matched=[(tx, "60.00")])
    rejected = acme.line("9.00", state=LineState.NO_SPEND)
    line_reject(line=rejected, user=acme.finance, note="No receipt")
    ExpenseReport.objects.filter(pk=acme.report().pk).update(
        idempotency_key="secret-idempotency-key-1", request_digest="d" * 64
    )
    period_close(period=acme.period(), user=acme.finance)
    return acme


@pytest.fixture
def operator() -> Client:
    """A superuser operator who passed the admin's second factor."""
    client = Client(headers={"accept-language": "en"})
    ops = User.objects.create_superuser("ops@issuer.example", "Correct-Horse-42")
    sign_in(client, ops, second_factor=True)
    return client


def admin_url(model: Any, view: str, *args: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_every_page_opens_read_only(operator: Client, closed: Books) -> None:
    for model in MODELS:
        listing = operator.get(admin_url(model, "changelist"))
        assert listing.status_code == 200, model
        first = model._default_manager.order_by("pk").first()
        assert first is not None, model
        change = operator.get(admin_url(model, "change", first.pk))
        assert change.status_code == 200, model
        page = change.content.decode()
        assert 'name="_save"' not in page, model
        assert operator.get(admin_url(model, "add")).status_code == 403, model
        assert operator.get(admin_url(model, "delete", first.pk)).status_code == 403, model
        assert operator.post(admin_url(model, "change", first.pk), {}).status_code == 403, model


def test_no_secret_is_shown(operator: Client, closed: Books) -> None:
    report = closed.report()
    page = operator.get(admin_url(ExpenseReport, "change", report.pk)).content.decode()
    assert "secret-idempotency-key-1" not in page
    assert "d" * 64 not in page
    line = ExpenseLine.objects.filter(card__isnull=False).first()
    assert line is not None
    page = operator.get(admin_url(ExpenseLine, "change", line.pk)).content.decode()
    assert line.card is not None
    assert line.card.serial_display in page
    code_blob = bytes(line.card.ciphertext).hex()
    assert code_blob not in page


def test_a_filed_report_downloads_as_stored(operator: Client, closed: Books) -> None:
    report = PeriodReport.objects.filter(file_format="xlsx").get()
    page = operator.get(admin_url(PeriodReport, "changelist")).content.decode()
    url = reverse("admin:expenses_periodreport_download", args=[report.pk])
    assert url in page

    response = operator.get(url)

    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert hashlib.sha256(body).hexdigest() == report.file_sha256


def test_a_buyer_cannot_open_the_admin(closed: Books) -> None:
    response = closed.client().get(admin_url(ExpenseLine, "changelist"))
    assert response.status_code == 302
