"""The server answers what its OpenAPI document says, checked by schemathesis against a live
server: every operation, a fixed small number of generated requests each (derandomized, so the
same requests every run), with a key of an owner of a company that has orders, invoices, a
payment and a statement. Checks: no 5xx, status codes, content types and bodies as declared."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.models import Statement
from billing.services.statements import statement_build
from tests import factories
from tests.api.helpers import ORDERS, buyer, line, order_body
from tests.billing import statement_data

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]

EXAMPLES_PER_OPERATION = 8
TIME_LIMIT_SECONDS = 90
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def company_with_history() -> str:
    """An owner's key of a company with a funded order, its invoice and a statement."""
    acme = buyer()
    product = factories.product()
    created = acme.api("purchaser").post(
        ORDERS, order_body(line(product, quantity=2), submit=True), idempotency_key="seed-1"
    )
    assert created.status_code == 201, created.json()
    statement_data.invoice(
        acme.company, total="250.00", issued=statement_data.shanghai(2025, 10, 7)
    )
    statement_build(
        company=acme.company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    return acme.keys["owner"]


def merchant_headers() -> dict[str, str]:
    """The merchant API takes merchant keys only: a key with every scope."""
    from tests.cards.spend.helpers import merchant_key

    _key, plaintext = merchant_key()
    return {"Authorization": f"Bearer {plaintext}", "Accept-Language": "en"}


def test_every_operation_answers_as_its_schema_says(live_server):
    key = company_with_history()
    buyer_headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
    for_merchants = merchant_headers()
    raw = requests.get(
        f"{live_server.url}/api/schema/?format=json", headers=buyer_headers, timeout=30
    ).json()
    schema = schemathesis.openapi.from_dict(raw)
    failures: dict[str, str] = {}
    statuses: dict[str, list[int]] = {}
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            merchant = case.operation.path.startswith("/api/v1/merchant/")
            response = case.call_and_validate(
                base_url=live_server.url,
                headers=for_merchants if merchant else buyer_headers,
                checks=CHECKS,
                timeout=30,
            )
            statuses.setdefault(case.operation.label, []).append(response.status_code)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:3000]

    elapsed = time.monotonic() - started
    # Every operation was called, and some answered with data, not only with refusals.
    assert set(statuses) | set(failures) == {operation.label for operation in operations}
    assert sum(200 in codes for codes in statuses.values()) >= 6, statuses
    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
    assert elapsed < TIME_LIMIT_SECONDS, f"schemathesis took {elapsed:.0f} s"
