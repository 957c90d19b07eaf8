"""The live deposit monitor: a daily check from the ledger (one row per day), the latest recorded
deposit against the required deposit, and a warning level the console shows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from compliance.models import DepositCheck
from compliance.selectors import AT_RISK, OK, SHORTFALL, deposit_monitor
from compliance.services.deposit import deposit_check_run, deposit_record_create
from compliance.tasks import deposit_check_daily
from portal import days
from tests import factories

from .report_helpers import CARD_LIABILITY, bearer_product, buyer, issued, line, owed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def alice() -> object:
    issued(buyer("Acme"), [line(bearer_product(), "500", 2)])  # 1,000.00 outstanding
    return factories.operator("alice@issuer.example")


def record(operator: object, amount: str) -> None:
    deposit_record_create(operator=operator, as_of=days.today(), escrow_balance=amount)  # type: ignore[arg-type]


def test_the_daily_check_reads_the_ledger_and_warns_of_a_shortfall(alice) -> None:
    assert deposit_monitor() is None
    deposit_check_daily()
    check = DepositCheck.objects.get()
    assert check.date == days.today()
    assert check.outstanding == owed(CARD_LIABILITY) == Decimal("1000.00")
    assert (check.ratio, check.required) == (Decimal("0.4000"), Decimal("400.00"))
    assert (check.deposit, check.shortfall) == (Decimal("0.00"), Decimal("400.00"))
    monitor = deposit_monitor()
    assert monitor is not None
    assert monitor.level == SHORTFALL


@pytest.mark.parametrize(
    ("deposit", "level"), [("399.99", SHORTFALL), ("439.99", AT_RISK), ("440.00", OK)]
)
def test_the_level_is_at_risk_below_110_percent_of_the_required_deposit(
    alice, deposit, level
) -> None:
    record(alice, deposit)
    deposit_check_run()
    monitor = deposit_monitor()
    assert monitor is not None
    assert monitor.level == level
    assert monitor.check.record is not None


def test_a_second_run_the_same_day_replaces_the_days_figures(alice) -> None:
    deposit_check_run()
    record(alice, "1000.00")
    deposit_check_run(now=timezone.now())
    check = DepositCheck.objects.get()
    assert check.deposit == Decimal("1000.00")
    assert check.shortfall == Decimal("0.00")


def test_the_console_snippet_shows_the_warning(alice) -> None:
    record(alice, "420.00")
    deposit_check_run()
    html = render_to_string("compliance/console_deposit.html", {"deposit": deposit_monitor()})
    assert "At risk" in html
    assert "400.00" in html
    assert "420.00" in html
    assert "105.0%" in html
    empty = render_to_string("compliance/console_deposit.html", {"deposit": None})
    assert "has not been checked yet" in empty


def test_beat_runs_the_check_daily_and_the_task_is_registered(settings) -> None:
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["compliance-deposit-check"]
    assert entry["task"] == "compliance.tasks.deposit_check_daily"
    assert entry["task"] in app.tasks
