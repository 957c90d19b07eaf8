"""A report's period from what an operator chose: a quarter (``2026Q3``), a month (``2026-07``)
or a date range, as its kind allows (``ReportKind.period``). Days are Asia/Shanghai days."""

from __future__ import annotations

import calendar
import datetime
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from compliance.content import Period, ReportKind
from portal import days

_QUARTER = re.compile(r"(\d{4})\s*-?\s*[Qq]([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


def quarter(year: int, number: int) -> Period:
    first_month = 3 * (number - 1) + 1
    last_month = first_month + 2
    return Period(
        datetime.date(year, first_month, 1),
        datetime.date(year, last_month, calendar.monthrange(year, last_month)[1]),
    )


def month(year: int, number: int) -> Period:
    return Period(
        datetime.date(year, number, 1),
        datetime.date(year, number, calendar.monthrange(year, number)[1]),
    )


def quarter_of(day: datetime.date) -> Period:
    return quarter(day.year, (day.month - 1) // 3 + 1)


def previous_quarter(day: datetime.date) -> Period:
    return quarter_of(quarter_of(day).start - datetime.timedelta(days=1))


def period_label(period: Period) -> str:
    """``2026Q3``, ``2026-07`` or ``2026-07-01..2026-07-15``: how a period is written in forms."""
    if quarter_of(period.start) == period:
        return f"{period.start.year}Q{(period.start.month - 1) // 3 + 1}"
    if month(period.start.year, period.start.month) == period:
        return f"{period.start:%Y-%m}"
    return f"{period.start.isoformat()}..{period.end.isoformat()}"


def period_choices(kind: ReportKind, count: int = 8) -> list[str]:
    """The latest finished periods a kind is filed for, newest first (for a form's choices)."""
    today = days.today()
    if kind.period == "quarter":
        found, current = [], quarter_of(today)
        for _i in range(count):
            current = previous_quarter(current.start)
            found.append(period_label(current))
        return found
    if kind.period == "month":
        found, first = [], today.replace(day=1)
        for _i in range(count):
            first = (first - datetime.timedelta(days=1)).replace(day=1)
            found.append(f"{first:%Y-%m}")
        return found
    return []


def _date(raw: str, field: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError(
            _("%(field)s: %(value)s is not a date; write it as 2026-07-31.")
            % {"field": field, "value": raw},
            code="invalid_date",
        ) from None


def period_parse(kind: ReportKind, *, period: str = "", start: str = "", end: str = "") -> Period:
    """The period an operator chose for ``kind``: a quarter for quarterly kinds, a month for
    monthly ones; a kind of ``any`` period takes a start and an end date (or a quarter or a
    month). A refusal names the field and the value."""
    text = (period or "").strip()
    found: Period | None = None
    if text:
        if match := _QUARTER.fullmatch(text):
            found = quarter(int(match[1]), int(match[2]))
        elif (match := _MONTH.fullmatch(text)) and 1 <= int(match[2]) <= 12:
            found = month(int(match[1]), int(match[2]))
        else:
            raise ValidationError(
                _(
                    "Period: %(value)s is neither a quarter such as 2026Q3 nor a month such as "
                    "2026-07."
                )
                % {"value": text},
                code="invalid_period",
            )
    elif kind.period == "any" and (start or end):
        found = Period(_date(start, _("Start")), _date(end, _("End")))
        if found.start > found.end:
            raise ValidationError(
                _("End: %(end)s is before the start, %(start)s.")
                % {"end": found.end.isoformat(), "start": found.start.isoformat()},
                code="period_reversed",
            )
    if found is None:
        raise ValidationError(_("Choose the period of the report."), code="period_required")
    if kind.period == "quarter" and quarter_of(found.start) != found:
        raise ValidationError(
            _("Period: %(value)s is not a quarter; this report is quarterly (such as 2026Q3).")
            % {"value": text},
            code="quarter_required",
        )
    if kind.period == "month" and month(found.start.year, found.start.month) != found:
        raise ValidationError(
            _("Period: %(value)s is not a month; this report is monthly (such as 2026-07).")
            % {"value": text},
            code="month_required",
        )
    return found
