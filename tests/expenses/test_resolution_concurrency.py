"""Resolving and closing under real concurrency on PostgreSQL: threads with their own
connections start together and contend for one redemption, or for a period being closed."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from django.utils import translation

from expenses.models import ExpenseLine, ExpenseMatch, LineState, PeriodStatus
from expenses.services.closing import period_close
from expenses.services.resolution import line_link, line_reject, line_reopen
from portal import days
from tests.expenses.resolution_data import Books, books

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("english_and_fast_hashing"),
]


def together(works: list[Callable[[], Any]]) -> list[Any]:
    """Run each callable on its own thread and connection, all released at once; returns each
    result or the exception it raised."""
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)

    def run(index: int) -> None:
        try:
            with translation.override("en"):
                barrier.wait(timeout=30)
                results[index] = works[index]()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return results


@pytest.fixture
def acme(settings: Any, tmp_path: Any) -> Books:
    settings.ISSUANCE_CHUNK_SIZE = 10
    settings.MEDIA_ROOT = str(tmp_path)
    return books()


def test_two_claims_of_two_periods_never_take_more_than_a_redemption(acme: Books) -> None:
    tx = acme.spend("E001", "50.00")
    last_month = days.today().replace(day=1) - datetime.timedelta(days=1)
    this = acme.line("50.00", state=LineState.NO_SPEND)
    earlier = acme.line("50.00", state=LineState.NO_SPEND, date=last_month)
    assert this.period_id != earlier.period_id

    results = together(
        [
            lambda: line_link(line=this, transaction=tx, user=acme.finance, note="mine"),
            lambda: line_link(line=earlier, transaction=tx, user=acme.finance, note="mine too"),
        ]
    )

    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(refused) == 1, results
    assert refused[0].code == "fully_claimed"
    claimed = ExpenseMatch.objects.filter(transaction=tx).aggregate(s=Sum("amount"))["s"]
    assert claimed == Decimal("50.00")


def test_a_close_and_a_reopened_claim_never_leave_a_closed_period_with_an_exception(
    acme: Books,
) -> None:
    line = acme.line("20.00", state=LineState.NO_SPEND)
    line_reject(line=line, user=acme.finance, note="No receipt")
    period = acme.period()

    results = together(
        [
            lambda: period_close(period=period, user=acme.finance),
            lambda: line_reopen(line=line, user=acme.finance, note="Receipt found"),
        ]
    )

    period.refresh_from_db()
    line.refresh_from_db()
    closed_first = period.status == PeriodStatus.CLOSED
    assert sum(isinstance(r, ValidationError) for r in results) == 1, results
    if closed_first:
        assert line.resolution == "rejected"
        assert isinstance(results[1], ValidationError)
    else:
        assert line.resolution == ""
        assert isinstance(results[0], ValidationError)
    assert not (
        closed_first
        and ExpenseLine.objects.filter(period=period, resolution="")
        .exclude(state=LineState.MATCHED)
        .exists()
    )
