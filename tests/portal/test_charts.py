"""The charts' geometry (portal/charts.py) and how their templates draw it: parts that add up to
the whole bar, shares that add up to 100, no division by zero, negative and huge values."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from portal.charts import (
    PATTERNS,
    STACK_WIDTH,
    MonthSeries,
    Part,
    bar_chart,
    last_months,
    stacked_bar,
    whole_percents,
)


def money(value: Decimal) -> str:
    return f"¥{value:,.2f}"


def parts(*values: str) -> list[Part]:
    return [
        Part(f"p{i}", f"Part {i}", Decimal(value), money(Decimal(value)))
        for i, value in enumerate(values)
    ]


# --- shares -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ["1", "1", "1"],
        ["0.01", "99.99"],
        ["33.33", "33.33", "33.34"],
        ["1", "2", "3", "4", "5"],
        ["1e20", "1", "1"],
    ],
)
def test_whole_percents_add_up_to_100(values: list[str]) -> None:
    shares = whole_percents([Decimal(v) for v in values])

    assert sum(shares) == 100
    assert all(share >= 0 for share in shares)


def test_whole_percents_of_nothing_are_zeros_not_a_division_by_zero() -> None:
    assert whole_percents([Decimal(0), Decimal(0)]) == [0, 0]
    assert whole_percents([]) == []


def test_whole_percents_leave_negative_values_out() -> None:
    assert whole_percents([Decimal("-50"), Decimal("25"), Decimal("75")]) == [0, 25, 75]


# --- the stacked bar ----------------------------------------------------------------------------


def test_the_segments_of_a_stacked_bar_fill_it_exactly_left_to_right() -> None:
    bar = stacked_bar(parts("300", "100", "600"), key="t", title="Credit")

    assert not bar.empty
    assert [s.x for s in bar.segments] == [0.0, 90.0, 120.0]
    assert [s.width for s in bar.segments] == [90.0, 30.0, 180.0]
    assert [s.percent for s in bar.segments] == [30, 10, 60]
    assert sum(s.width for s in bar.segments) == STACK_WIDTH
    assert bar.total == Decimal("1000")


def test_awkward_thirds_still_end_at_the_bar_width() -> None:
    bar = stacked_bar(parts("1", "1", "1"), key="t", title="Thirds")

    last = bar.segments[-1]
    assert last.x + last.width == pytest.approx(STACK_WIDTH, abs=0.01)
    assert sum(s.percent for s in bar.segments) == 100


def test_a_stacked_bar_of_zeros_is_empty_and_draws_nothing() -> None:
    bar = stacked_bar(parts("0", "0"), key="t", title="Nothing")

    assert bar.empty
    assert bar.drawn == []
    assert [s.percent for s in bar.segments] == [0, 0]


def test_a_negative_part_takes_no_room_but_keeps_its_number() -> None:
    bar = stacked_bar(parts("-40", "100"), key="t", title="Odd")

    negative, positive = bar.segments
    assert negative.width == 0
    assert negative.value == Decimal("-40")
    assert negative.text == "¥-40.00"
    assert positive.width == STACK_WIDTH
    assert bar.drawn == [positive]


def test_huge_values_keep_their_proportions() -> None:
    bar = stacked_bar(parts("1e30", "3e30"), key="t", title="Huge")

    assert [s.width for s in bar.segments] == [75.0, 225.0]


def test_narrow_segments_leave_their_share_to_the_legend() -> None:
    bar = stacked_bar(parts("1", "99"), key="t", title="Narrow")

    assert not bar.segments[0].labelled
    assert bar.segments[1].labelled


def test_each_part_gets_a_pattern_as_well_as_a_colour() -> None:
    bar = stacked_bar(parts("1", "1", "1"), key="t", title="Patterns")
    named = stacked_bar(
        [Part("a", "A", 1, "1", "solid"), Part("b", "B", 1, "1", "dots")], key="n", title="N"
    )

    assert [s.pattern for s in bar.segments] == list(PATTERNS[:3])
    assert [s.pattern for s in named.segments] == ["solid", "dots"]


def test_the_summary_names_every_part_with_its_value_and_share() -> None:
    bar = stacked_bar(parts("250", "750"), key="t", title="Credit use")

    assert bar.summary == "Credit use: Part 0 ¥250.00 (25%); Part 1 ¥750.00 (75%)"


# --- horizontal bars ----------------------------------------------------------------------------


def test_bars_are_as_long_as_their_share_of_the_largest_value() -> None:
    chart = bar_chart(
        [("2025-01", Decimal("50")), ("2025-02", Decimal("100")), ("2025-03", Decimal("0"))],
        key="t",
        title="Spend",
        fmt=money,
    )

    first, second, third = chart.rows
    assert second.width == pytest.approx(2 * first.width)
    assert third.width == 0
    assert [row.text for row in chart.rows] == ["¥50.00", "¥100.00", "¥0.00"]
    # Each value is written just after its bar, and the chart is wide enough for it.
    assert first.text_x > chart.label_width + first.width
    assert chart.label_width + second.width + len(second.text) * 7 <= chart.width


def test_a_bar_chart_without_anything_above_zero_is_empty() -> None:
    assert bar_chart([], key="t", title="None").empty
    assert bar_chart([("a", 0), ("b", 0)], key="t", title="Zeros").empty
    assert bar_chart([("a", -5)], key="t", title="Negative").empty


def test_a_negative_row_draws_no_bar_but_writes_its_value() -> None:
    chart = bar_chart([("a", Decimal("-5")), ("b", Decimal("10"))], key="t", title="T", fmt=money)

    assert chart.rows[0].width == 0
    assert chart.rows[0].text == "¥-5.00"
    assert chart.rows[1].width > 0


def test_a_huge_value_widens_the_chart_instead_of_running_out_of_it() -> None:
    huge = Decimal("123456789012345678901234567890")
    chart = bar_chart([("a", huge), ("b", Decimal(1))], key="t", title="T", fmt=money)

    row = chart.rows[0]
    assert row.width >= 80
    assert chart.width >= row.text_x + len(row.text) * 7


def test_rows_stack_down_and_the_height_holds_them_all() -> None:
    chart = bar_chart([(str(i), i + 1) for i in range(12)], key="t", title="T")

    ys = [row.y for row in chart.rows]
    assert ys == sorted(ys)
    assert chart.height >= ys[-1] + chart.bar_height


# --- months -------------------------------------------------------------------------------------


def test_the_last_twelve_months_end_with_this_one_and_cross_the_year() -> None:
    months = last_months(datetime.date(2026, 3, 17))

    assert len(months) == 12
    assert months[0] == datetime.date(2025, 4, 1)
    assert months[-1] == datetime.date(2026, 3, 1)
    assert datetime.date(2026, 1, 1) in months


def test_a_month_series_fills_the_months_without_data_with_zero() -> None:
    months = last_months(datetime.date(2026, 3, 1), 3)
    series = MonthSeries.of(months, {datetime.date(2026, 2, 1): Decimal("5.50")})

    assert series.values == [Decimal(0), Decimal("5.50"), Decimal(0)]
    assert series.total == Decimal("5.50")
    assert series.points(lambda m: f"{m:%Y-%m}")[1] == ("2026-02", Decimal("5.50"))


# --- the templates ------------------------------------------------------------------------------


def test_the_stacked_bar_draws_an_accessible_svg_followed_by_its_numbers() -> None:
    bar = stacked_bar(parts("300", "700"), key="credit-use", title="Credit use", total_text="¥1")

    html = render_to_string("portal/charts/stacked_bar.html", {"chart": bar, "empty_text": "-"})

    assert 'role="img"' in html
    assert 'aria-labelledby="credit-use-title"' in html
    assert '<title id="credit-use-title">Credit use: Part 0' in html
    assert 'viewBox="0 0 300 32"' in html
    assert 'width="100%"' in html
    assert '<pattern id="credit-use-light"' in html
    assert 'fill="url(#credit-use-light)"' in html
    assert 'fill="url(#credit-use-dots)"' in html
    assert 'data-testid="chart-credit-use-numbers"' in html
    assert "¥300.00" in html
    assert "¥700.00" in html
    assert "30%" in html
    assert "70%" in html
    assert 'data-testid="empty-state"' not in html


def test_an_empty_chart_shows_its_empty_state_instead_of_an_svg() -> None:
    bar = stacked_bar(parts("0"), key="k", title="T")
    bars = bar_chart([("a", 0)], key="b", title="T")

    stacked = render_to_string("portal/charts/stacked_bar.html", {"chart": bar, "empty_text": "X"})
    rows = render_to_string("portal/charts/bar_chart.html", {"chart": bars, "empty_text": "Y"})

    assert '<div class="empty" data-testid="empty-state"><p>X</p></div>' in stacked
    assert '<div class="empty" data-testid="empty-state"><p>Y</p></div>' in rows
    assert "<svg" not in stacked
    assert "<svg" not in rows


def test_the_bar_chart_writes_coordinates_unlocalised_and_a_table_of_its_numbers() -> None:
    chart = bar_chart(
        [("2025-01", Decimal("1234.5")), ("2025-02", Decimal("10"))], key="s", title="S", fmt=money
    )
    with translation.override("de"):  # a decimal comma, if anything were localised
        html = render_to_string(
            "portal/charts/bar_chart.html",
            {"chart": chart, "label_heading": "Month", "value_heading": "Spend"},
        )

    rect = html[html.index("<rect") : html.index("/>", html.index("<rect"))]
    assert "," not in rect
    assert "<details" in html
    assert '<th scope="row">2025-01</th><td class="num">¥1,234.50</td>' in html
