"""The console (the admin index) shows the live deposit monitor and the quarterly business
report's due date, and says so once the quarter's report is filed."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.content import Period
from compliance.due_dates import business_report_reminder
from compliance.services.deposit import deposit_check_run, deposit_record_create
from compliance.services.filing import report_file
from portal import days
from tests.console.helpers import INDEX, operator_client

from .report_helpers import bearer_product, buyer, issued, line

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def test_the_console_shows_the_deposit_at_risk_and_the_business_report_due(client: Client):
    admin, ops = operator_client(client)
    issued(buyer("Acme"), [line(bearer_product(), "500", 2)])  # 1,000.00 outstanding: 400.00
    deposit_record_create(operator=ops, as_of=days.today(), escrow_balance="420.00")
    deposit_check_run()

    page = admin.get(INDEX).content.decode()

    assert 'id="deposit-monitor"' in page
    assert "At risk" in page
    assert "105.0%" in page
    reminder = business_report_reminder()
    assert 'data-testid="business-report-due"' in page
    assert f"Report for {reminder.label}: due {reminder.due:%Y-%m-%d}" in page
    assert "Filed." not in page

    report_file(
        kind="business",
        period=Period(reminder.quarter_start, reminder.quarter_end),
        operator=ops,
    )
    assert "Filed." in admin.get(INDEX).content.decode()
