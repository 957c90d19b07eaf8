"""Business days: the portal's days are Asia/Shanghai days (``settings.TIME_ZONE``) whatever the
server's clock says. The one home for turning a date into the instants that bound it; statements,
aging, order limits per day and date filters all ask here."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def today() -> datetime.date:
    """Today in Asia/Shanghai."""
    return timezone.localdate(timezone=zone())


def day_start(day: datetime.date) -> datetime.datetime:
    """The first instant of ``day`` (00:00 Asia/Shanghai)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone())


def day_end(day: datetime.date) -> datetime.datetime:
    """The first instant after ``day`` (00:00 of the next day): a day is ``[start, end)``."""
    return day_start(day + datetime.timedelta(days=1))


def days_bounds(
    first: datetime.date, last: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants ``[first 00:00, last + 1 day 00:00)``: whole days, both ends included."""
    return day_start(first), day_end(last)


def local(instant: datetime.datetime) -> datetime.datetime:
    """An aware instant as Asia/Shanghai wall time."""
    return timezone.localtime(instant, zone())
