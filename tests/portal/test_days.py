"""Portal days are Asia/Shanghai days: 16:00 UTC is already the next day's first instant."""

from __future__ import annotations

import datetime

from portal import days

UTC = datetime.UTC


def test_a_day_runs_from_shanghai_midnight_to_the_next() -> None:
    start, end = days.days_bounds(datetime.date(2025, 1, 31), datetime.date(2025, 2, 28))
    assert start == datetime.datetime(2025, 1, 30, 16, 0, tzinfo=UTC)
    assert end == datetime.datetime(2025, 2, 28, 16, 0, tzinfo=UTC)
    assert days.day_end(datetime.date(2025, 2, 28)) == days.day_start(datetime.date(2025, 3, 1))


def test_local_time_is_shanghai_wall_time() -> None:
    instant = datetime.datetime(2025, 1, 31, 16, 30, tzinfo=UTC)
    assert days.local(instant).date() == datetime.date(2025, 2, 1)
    assert days.local(instant).hour == 0
