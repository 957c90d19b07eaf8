"""The monthly job with a real Celery worker: the beat task fans out one build per active
company on the statements queue; sent twice (two beat schedulers), it still yields one
statement per company and one email to its finance team."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from billing.models import Statement
from portal.celery import app
from portal.models import Company, Role
from tests import factories
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


def test_the_beat_task_builds_last_months_statements_once_per_active_company(
    celery_worker_process, mail_dir: Path
) -> None:
    active = [factories.company(f"月结公司{i}") for i in range(3)]
    suspended = factories.company("停用公司", status=Company.Status.SUSPENDED)
    finance = [factories.member(company, Role.FINANCE) for company in active]
    for i, company in enumerate(active):
        data.invoice(company, total=f"{100 * (i + 1)}.00", issued=shanghai(2025, 10, 10 + i))
    data.invoice(suspended, total="999.00", issued=shanghai(2025, 10, 3))

    assert settings.CELERY_BEAT_SCHEDULE["statements-monthly"]["task"] == (
        "billing.tasks.statement_monthly"
    )
    month = {"month_start": "2025-11-01"}
    # Results are not kept unless the sender reads them (CELERY_TASK_IGNORE_RESULT).
    first = app.send_task("billing.tasks.statement_monthly", kwargs=month, ignore_result=False)
    second = app.send_task("billing.tasks.statement_monthly", kwargs=month, ignore_result=False)
    assert first.get(timeout=60) == second.get(timeout=60) == 3

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        issued = Statement.objects.filter(status=Statement.Status.ISSUED).count()
        if issued == 3 and not Statement.objects.filter(status="building").exists():
            break
        time.sleep(0.2)
    statements = list(Statement.objects.order_by("company_id"))
    assert [s.company_id for s in statements] == [c.pk for c in active]
    assert all(s.status == "issued" and s.trigger == "monthly" for s in statements)
    assert all(
        (s.period_start, s.period_end) == (datetime.date(2025, 10, 1), datetime.date(2025, 10, 31))
        for s in statements
    )
    assert [s.closing_balance for s in statements] == [
        Decimal(f"{100 * (i + 1)}.00") for i in range(3)
    ]
    assert all(s.files.count() == 3 for s in statements)

    # Each finance member gets one message (the worker writes them as files).
    time.sleep(1)
    for statement, person in zip(statements, finance, strict=True):
        messages = [
            path
            for path in mail_dir.iterdir()
            if statement.number in path.read_text(errors="replace")
        ]
        assert len(messages) == 1, statement.number
        assert person.email in messages[0].read_text(errors="replace")
