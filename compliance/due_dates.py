"""When the quarterly business report is due: 20 working days after the quarter ends.

The project has no holiday calendar (portal/days.py knows Asia/Shanghai days only), so a working
day here is Monday to Friday; public holidays and the weekend days China works in exchange are
not counted. An operator files earlier when a holiday falls in those four weeks.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from portal import days

BUSINESS_REPORT_WORKING_DAYS = 20


def is_working_day(day: datetime.date) -> bool:
    return day.weekday() < 5


def add_working_days(day: datetime.date, count: int) -> datetime.date:
    """The ``count``-th working day after ``day`` (``day`` itself not counted)."""
    while count > 0:
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def quarter_of(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of the quarter ``day`` falls in."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = datetime.date(day.year, first_month, 1)
    next_start = (
        datetime.date(day.year + 1, 1, 1)
        if first_month == 10
        else datetime.date(day.year, first_month + 3, 1)
    )
    return start, next_start - datetime.timedelta(days=1)


def business_report_due(quarter_end: datetime.date) -> datetime.date:
    """The day the business report of the quarter ending on ``quarter_end`` is due."""
    return add_working_days(quarter_end, BUSINESS_REPORT_WORKING_DAYS)


@dataclass(frozen=True)
class DueReminder:
    quarter_start: datetime.date
    quarter_end: datetime.date
    due: datetime.date
    days_left: int  # negative once overdue

    @property
    def label(self) -> str:
        return f"{self.quarter_end.year} Q{(self.quarter_end.month - 1) // 3 + 1}"

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def days_overdue(self) -> int:
        return max(0, -self.days_left)


def business_report_reminder(today: datetime.date | None = None) -> DueReminder:
    """The report of the last quarter that has ended: its due date and the days left to it."""
    today = today or days.today()
    this_start, _this_end = quarter_of(today)
    start, end = quarter_of(this_start - datetime.timedelta(days=1))
    due = business_report_due(end)
    return DueReminder(quarter_start=start, quarter_end=end, due=due, days_left=(due - today).days)
