"""The compliance panels of the operators' console (console.panels): the live deposit monitor
and the quarterly business report's due date."""

from __future__ import annotations

from django.http import HttpRequest

from compliance.due_dates import business_report_reminder
from compliance.models import FiledReport
from compliance.selectors import deposit_monitor
from console.panels import PanelResult, register_panel


def deposit_panel(request: HttpRequest) -> PanelResult:
    return "compliance/console_deposit.html", {"deposit": deposit_monitor()}


def business_report_panel(request: HttpRequest) -> PanelResult:
    reminder = business_report_reminder()
    filed = FiledReport.objects.filter(
        kind="business", period_start=reminder.quarter_start, period_end=reminder.quarter_end
    ).exists()
    return "compliance/console_due.html", {
        "business_report": reminder,
        "business_report_filed": filed,
    }


def register_console_panels() -> None:
    register_panel("compliance_deposit", deposit_panel)
    register_panel("compliance_business_report", business_report_panel)
