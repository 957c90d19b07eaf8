"""Statements through the API: the key's company only, invoices:read, files as stored."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
import hashlib

import pytest

from billing.models import Statement
from billing.services.statements import statement_build
from portal.models import ApiKey
from tests.api.helpers import Api, buyer, key_for
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

STATEMENTS = "/api/v1/statements"


def october(company) -> Statement:
    data.invoice(company, total="250.00", issued=shanghai(2025, 10, 7))
    return statement_build(
        company=company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )


def test_finance_lists_reads_and_downloads_its_statements() -> None:
    acme = buyer()
    statement = october(acme.company)
    other = buyer()
    october(other.company)
    api = acme.api("finance")

    listing = api.get(STATEMENTS)
    assert listing.status_code == 200
    results = listing.json()["results"]
    assert [s["number"] for s in results] == [statement.number]
    assert results[0]["closing_balance"] == "250.00"
    assert {f["format"] for f in results[0]["files"]} == {"pdf", "csv", "xlsx"}

    detail = api.get(f"{STATEMENTS}/{statement.public_id}").json()
    assert detail["summary"]["invoiced"] == "250.00"
    assert detail["opening_balance"] == "0.00"

    for fmt in ("pdf", "csv", "xlsx"):
        response = api.get(f"{STATEMENTS}/{statement.public_id}/download", format=fmt)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        stored = statement.files.get(format=fmt)
        assert hashlib.sha256(body).hexdigest() == stored.sha256 == response["X-Content-SHA256"]
        assert statement.number in response["Content-Disposition"]


def test_another_companys_statement_is_not_found_and_a_bad_format_is_named() -> None:
    acme = buyer()
    other = buyer()
    theirs = october(other.company)
    api = acme.api("finance")

    assert api.get(f"{STATEMENTS}/{theirs.public_id}").status_code == 404
    assert api.get(f"{STATEMENTS}/{theirs.public_id}/download", format="pdf").status_code == 404
    mine = october(acme.company)
    bad = api.get(f"{STATEMENTS}/{mine.public_id}/download", format="docx")
    assert bad.status_code == 400
    assert "docx" in str(bad.json())


def test_a_key_without_invoices_read_is_refused() -> None:
    acme = buyer()
    october(acme.company)
    key = key_for(acme.company, acme.people["finance"], scopes=[ApiKey.Scope.ORDERS_READ])
    assert Api(key).get(STATEMENTS).status_code == 403


def test_a_viewers_key_reads_invoices_but_not_statements_payments_or_aging() -> None:
    """Issue 11, defect 6: the API refuses a viewer what the portal refuses them."""
    acme = buyer()
    statement = october(acme.company)
    viewer = Api(key_for(acme.company, acme.people["viewer"], [ApiKey.Scope.INVOICES_READ]))

    assert viewer.get("/api/v1/invoices").status_code == 200
    for path in (
        STATEMENTS,
        f"{STATEMENTS}/{statement.public_id}",
        f"{STATEMENTS}/{statement.public_id}/download",
        "/api/v1/payments",
        "/api/v1/aging",
    ):
        response = viewer.get(path)
        assert response.status_code == 403, path
        assert "Viewers cannot see" in response.json()["detail"], path
    finance = Api(key_for(acme.company, acme.people["finance"], [ApiKey.Scope.INVOICES_READ]))
    assert finance.get(STATEMENTS).status_code == 200
