"""Charts drawn on the server as inline SVG: the geometry, worked out here, for the templates
under ``templates/portal/charts/`` to draw. No JavaScript, nothing loaded from elsewhere.

Two shapes cover the portal's pictures:

- ``stacked_bar``: one horizontal bar split into parts of a whole (credit used / reserved /
  available; the aging buckets). Each part has a fill pattern as well as a colour, its share is
  written on it when there is room, and a legend with text names every part.
- ``bar_chart``: one horizontal bar per row (a month, a kind of movement), each labelled at its
  start and its value written at its end, so no axis or colour is needed to read it.

The functions are pure: they take numbers and the strings to show, and return frozen data.
Amounts stay ``Decimal`` for the tables; coordinates are floats rounded to hundredths, in the
units of the SVG ``viewBox`` (which the template scales to the width of its container). A chart
with nothing to draw (no rows, or nothing above zero) says ``empty``: the template then shows an
empty state instead of dividing by zero. Negative values draw nothing but keep their number.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

# The fills of a stacked bar's parts: distinct in pattern and in lightness, so the parts can be
# told apart in greyscale, printed, or by someone who does not see the colours. In order of
# "weight", lightest first; the templates define one SVG pattern per name.
PATTERNS = ("light", "dots", "stripes", "cross", "solid")
# Parts drawn in these fills carry light text; the others dark text on a white halo.
DARK_PATTERNS = frozenset({"solid"})

STACK_WIDTH = 300
STACK_HEIGHT = 32
# Below this width (viewBox units) a part's share is not written on it (the legend has it).
STACK_LABEL_MIN_WIDTH = 34

BAR_WIDTH = 300
BAR_ROW = 22
BAR_THICKNESS = 14
BAR_GAP = 6
BAR_MIN_AREA = 80
FONT_SIZE = 12

Number = Decimal | int


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    """A generous estimate of how wide ``text`` is drawn: CJK characters are square, Latin
    characters and digits about 0.6 of the font size."""
    return sum(size if ord(char) >= 0x2E80 else size * 0.6 for char in text)


def _coord(value: Decimal | float) -> float:
    return round(float(value), 2)


def _positive(value: Number) -> Decimal:
    value = Decimal(value)
    return value if value > 0 else Decimal(0)


def whole_percents(values: Sequence[Number]) -> list[int]:
    """Each value's share of their (positive) sum in whole percents that add up to exactly 100
    (largest remainders get the rounding); all zeros when nothing is above zero."""
    positives = [_positive(value) for value in values]
    total = sum(positives, Decimal(0))
    if total == 0:
        return [0] * len(positives)
    exact = [value * 100 / total for value in positives]
    floors = [int(share) for share in exact]
    missing = 100 - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: (exact[i] - floors[i], -i), reverse=True)
    for index in by_remainder[:missing]:
        floors[index] += 1
    return floors


@dataclass(frozen=True)
class Part:
    """One part of a whole, as the caller names it."""

    key: str
    label: str
    value: Number
    text: str  # the value as shown, e.g. ¥1,234.50
    pattern: str = ""


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    value: Decimal
    text: str
    percent: int
    pattern: str
    x: float
    width: float

    @property
    def drawn(self) -> bool:
        return self.width > 0

    @property
    def labelled(self) -> bool:
        """Whether its share is written on the bar itself."""
        return self.width >= STACK_LABEL_MIN_WIDTH

    @property
    def label_x(self) -> float:
        return _coord(self.x + self.width / 2)

    @property
    def dark(self) -> bool:
        return self.pattern in DARK_PATTERNS


@dataclass(frozen=True)
class StackedBar:
    key: str  # unique on its page: the prefix of its patterns' ids
    title: str
    summary: str  # what a screen reader hears
    segments: list[Segment]
    total: Decimal
    total_text: str
    width: int = STACK_WIDTH
    height: int = STACK_HEIGHT

    @property
    def empty(self) -> bool:
        return self.total <= 0

    @property
    def drawn(self) -> list[Segment]:
        return [segment for segment in self.segments if segment.drawn]

    @property
    def text_y(self) -> float:
        return _coord(self.height / 2 + FONT_SIZE * 0.35)


def stacked_bar(parts: Sequence[Part], *, key: str, title: str, total_text: str = "") -> StackedBar:
    """One bar split into ``parts`` by value, left to right. Parts at or below zero take no
    room (their number stays in the legend); the segments end exactly at the bar's width."""
    values = [_positive(part.value) for part in parts]
    total = sum(values, Decimal(0))
    percents = whole_percents(values)
    segments = []
    running = Decimal(0)
    for index, (part, value) in enumerate(zip(parts, values, strict=True)):
        start = running * STACK_WIDTH / total if total else Decimal(0)
        running += value
        end = running * STACK_WIDTH / total if total else Decimal(0)
        segments.append(
            Segment(
                key=part.key,
                label=part.label,
                value=Decimal(part.value),
                text=part.text,
                percent=percents[index],
                pattern=part.pattern or PATTERNS[index % len(PATTERNS)],
                x=_coord(start),
                width=_coord(_coord(end) - _coord(start)),
            )
        )
    summary = f"{title}: " + "; ".join(
        f"{segment.label} {segment.text} ({segment.percent}%)" for segment in segments
    )
    return StackedBar(
        key=key,
        title=title,
        summary=summary,
        segments=segments,
        total=total,
        total_text=total_text,
    )


@dataclass(frozen=True)
class BarRow:
    label: str
    value: Decimal
    text: str
    y: float  # top of the bar
    width: float
    text_x: float

    @property
    def label_y(self) -> float:
        return _coord(self.y + BAR_THICKNESS / 2 + FONT_SIZE * 0.35)


@dataclass(frozen=True)
class BarChart:
    key: str
    title: str
    summary: str
    rows: list[BarRow]
    label_width: float  # where the bars start
    width: float
    height: float
    bar_height: int = BAR_THICKNESS

    @property
    def empty(self) -> bool:
        return not any(row.value > 0 for row in self.rows)

    @property
    def label_x(self) -> float:
        return _coord(self.label_width - BAR_GAP)


def bar_chart(
    points: Sequence[tuple[str, Number]],
    *,
    key: str,
    title: str,
    fmt: Callable[[Decimal], str] = str,
    width: int = BAR_WIDTH,
) -> BarChart:
    """One bar per ``(label, value)``, longest for the largest value, the value written after
    each bar. The chart widens (its text then draws smaller) rather than let a huge number run
    out of it; a row at or below zero draws no bar but still writes its value."""
    texts = [fmt(Decimal(value)) for _label, value in points]
    label_width = _coord(
        max((_text_width(label) for label, _value in points), default=0) + 2 * BAR_GAP
    )
    text_width = max((_text_width(text) for text in texts), default=0) + BAR_GAP
    area = max(width - label_width - text_width, BAR_MIN_AREA)
    top = max((_positive(value) for _label, value in points), default=Decimal(0))
    rows = []
    for index, ((label, value), text) in enumerate(zip(points, texts, strict=True)):
        length = _coord(_positive(value) * Decimal(area) / top) if top else 0.0
        rows.append(
            BarRow(
                label=label,
                value=Decimal(value),
                text=text,
                y=_coord(BAR_GAP / 2 + index * BAR_ROW),
                width=length,
                text_x=_coord(label_width + length + BAR_GAP / 2),
            )
        )
    summary = f"{title}: " + "; ".join(f"{row.label} {row.text}" for row in rows)
    return BarChart(
        key=key,
        title=title,
        summary=summary,
        rows=rows,
        label_width=label_width,
        width=_coord(max(width, label_width + area + text_width)),
        height=_coord(len(rows) * BAR_ROW + BAR_GAP),
    )


def last_months(today: datetime.date, count: int = 12) -> list[datetime.date]:
    """The first days of the ``count`` months up to and including ``today``'s, oldest first."""
    months = []
    year, month = today.year, today.month
    for _index in range(count):
        months.append(datetime.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@dataclass(frozen=True)
class MonthSeries:
    """Values by month, every month present (zero where nothing happened)."""

    months: list[datetime.date]
    values: list[Decimal] = field(default_factory=list)

    @classmethod
    def of(cls, months: list[datetime.date], found: Mapping[datetime.date, Number]) -> MonthSeries:
        return cls(months=months, values=[Decimal(found.get(month, 0) or 0) for month in months])

    def points(self, label: Callable[[datetime.date], str]) -> list[tuple[str, Decimal]]:
        return [
            (label(month), value) for month, value in zip(self.months, self.values, strict=True)
        ]

    @property
    def total(self) -> Decimal:
        return sum(self.values, Decimal(0))
