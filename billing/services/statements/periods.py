"""Periods (whole Asia/Shanghai days) and statement numbers."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import days
from portal.models import Company


def period_bounds(
    period_start: datetime.date, period_end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants ``[start 00:00, end + 1 day 00:00)`` in Asia/Shanghai time."""
    return days.days_bounds(period_start, period_end)


def previous_month(month_start: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The whole calendar month before the one ``month_start`` falls in."""
    last = month_start.replace(day=1) - datetime.timedelta(days=1)
    return last.replace(day=1), last


def last_month(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The calendar month that ended most recently, in Asia/Shanghai days: what a statement
    request offers first. On the 1st this is the month that ended at midnight."""
    return previous_month(today or days.today())


def _is_whole_month(start: datetime.date, end: datetime.date) -> bool:
    return (
        start.day == 1
        and (end + datetime.timedelta(days=1)).day == 1
        and (start.year, start.month) == (end.year, end.month)
    )


def statement_number(
    company: Company, period_start: datetime.date, period_end: datetime.date, version: int
) -> str:
    """``ST-202610-000042-v1`` for a calendar month, ``ST-20261005-20261020-000042-v1``
    for any other range; the middle part is the company's number (unique, unlike a prefix of
    its public id)."""
    short = f"{company.pk:06d}"
    if _is_whole_month(period_start, period_end):
        period = f"{period_start:%Y%m}"
    else:
        period = f"{period_start:%Y%m%d}-{period_end:%Y%m%d}"
    return f"ST-{period}-{short}-v{version}"


def _check_period(period_start: datetime.date, period_end: datetime.date) -> None:
    if period_end < period_start:
        raise ValidationError(
            {
                "period_end": _("The period ends on %(end)s, before it starts (%(start)s).")
                % {"end": period_end, "start": period_start}
            }
        )
    today = timezone.localdate()
    if period_end >= today:
        raise ValidationError(
            {
                "period_end": _(
                    "A statement covers finished days only: %(end)s is not over yet. "
                    "Choose %(yesterday)s or earlier."
                )
                % {"end": period_end, "yesterday": today - datetime.timedelta(days=1)}
            }
        )
