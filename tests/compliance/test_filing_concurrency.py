"""Two operators file the same report at the same moment (threads with their own connections,
on PostgreSQL): one version 1 is filed, the other filing is refused, nothing half-written."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from compliance.models import FiledReport
from compliance.services.filing import report_file
from portal.models import AuditEvent
from tests import factories
from tests.billing.test_payment_concurrency import together

from .report_helpers import after, this_quarter

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


def test_two_filings_at_once_file_one_version() -> None:
    period = this_quarter()
    alice = factories.operator("alice@issuer.example")
    bob = factories.operator("bob@issuer.example")

    def filing(operator: object) -> object:
        return report_file(kind="deposit", period=period, operator=operator, now=after(period))  # type: ignore[arg-type]

    results = together([lambda: filing(alice), lambda: filing(bob)])
    filed = [r for r in results if isinstance(r, FiledReport)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert (len(filed), len(refused)) == (1, 1), results
    assert list(FiledReport.objects.values_list("version", flat=True)) == [1]
    assert AuditEvent.objects.filter(action="compliance.report_filed").count() == 1
