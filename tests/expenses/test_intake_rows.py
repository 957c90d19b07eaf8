"""The row check reads a row of clean text cells in one pass: it must read every row exactly as
reading each cell on its own does (the error file's apostrophe, NFKC, whitespace)."""

from __future__ import annotations

import datetime

import pytest

from expenses.services.intake.base import EXPENSE_COLUMNS
from expenses.services.intake.rows import LineRules, cell_value, cell_values

CLEAN = {
    "report_number": "R-1",
    "line_number": "1",
    "employee_id": "E001",
    "employee_name": "张三",
    "expense_date": "2026-01-31",
    "amount": "128.50",
    "merchant_name": "Coffee Shop",
    "merchant_reference": "POS-1",
    "card_serial": "",
    "card_last4": "1234",
    "cost_center": "CC-1",
    "category": "Meals",
    "fapiao_number": "",
    "description": "",
}


@pytest.mark.parametrize(
    "value",
    [
        " E001",
        "E001 ",
        "E0  01",
        "E0\t01",
        "E0\u300001",  # the ideographic space
        "\uff25\uff10\uff10\uff11",  # full width
        "'=SUM(A1)",
        "'plain",
        "E0\x0001",
        "\x00",
        "e\u0301",  # a combining accent, composed by NFKC
        "\u0301E",
        "",
    ],
)
def test_a_cell_is_read_the_same_in_a_clean_row_or_alone(value: str) -> None:
    for name in EXPENSE_COLUMNS:
        raw = {**CLEAN, name: value}

        assert cell_values(raw) == {field: cell_value(raw.get(field)) for field in EXPENSE_COLUMNS}


def test_rows_with_values_not_text_or_fields_missing_are_read_cell_by_cell() -> None:
    raw: dict[str, object] = {**CLEAN, "amount": 128, "description": None}
    del raw["category"]

    values = cell_values(raw)

    assert (values["amount"], values["description"], values["category"]) == ("128", "", "")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("128", "128.00"), ("0012.5", "12.50"), ("¥128.5", "128.50"), ("1,280.00", "1280.00")],
)
def test_an_amount_is_read_the_same_plain_or_written_otherwise(amount: str, expected: str) -> None:
    rules = LineRules(closed={}, today=datetime.date(2026, 12, 31))

    line, problems = rules.check({**CLEAN, "amount": amount})

    assert problems == []
    assert line is not None
    assert str(line.amount) == expected


@pytest.mark.parametrize("amount", ["0", "0.00", "12.345"])
def test_a_plain_amount_not_above_zero_or_with_three_decimals_is_refused(amount: str) -> None:
    rules = LineRules(closed={}, today=datetime.date(2026, 12, 31))

    line, problems = rules.check({**CLEAN, "amount": amount})

    assert line is None
    assert [problem.field for problem in problems] == ["amount"]
