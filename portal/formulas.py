"""One definition of what a spreadsheet must not take for a formula or a number, in Python and
in SQL (the statement's card activity is written by PostgreSQL itself, ``COPY``).

Formulas (OWASP "CSV injection"): text that starts with one of ``FORMULA_PREFIXES`` gets a
leading apostrophe, so that Excel, WPS and LibreOffice show it as text instead of running it.
``safe_cell`` does it in Python, ``safe_cell_sql`` builds the same rule as an SQL expression from
the same prefixes; ``tests/portal/test_formulas.py`` feeds both the same values.

Identifiers in CSV (``csv_text``, ``csv_text_sql``): a CSV cell carries no type, and a
spreadsheet opening one turns a numeral into a number, quoted or not: a 16-digit card serial
keeps 15 significant digits (8600000000000015 becomes 8600000000000020) and an employee ID loses
its leading zeros. Text made only of digits therefore ends with a tab in our CSV files: the cell
is no longer a number to Excel, WPS or LibreOffice (whose number scanner skips spaces, not
tabs), so they keep it as text, digit for digit, and the tab does not show. Readers that trim
cells (ours do: ``portal.tabular``) get the identifier back unchanged. ``docs/exports.md``
explains the choice.
"""

from __future__ import annotations

from typing import Any

# OWASP's list: what makes a spreadsheet treat a cell as a formula (or a DDE call).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# What ends a CSV identifier made only of digits (see the module's docstring).
CSV_TEXT_MARK = "\t"


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet should store it: text that would start a formula gets a
    leading apostrophe; anything else (numbers, dates, None, other text) is returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(value: Any) -> Any:
    """A CSV cell's value: text made only of (ASCII) digits gets ``CSV_TEXT_MARK`` at its end,
    so that a spreadsheet keeps it as text; anything else is returned as is."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value + CSV_TEXT_MARK
    return value


def _sql_char(char: str, vendor: str) -> str:
    if char.isprintable() and char != "'":
        return f"'{char}'"
    function = "char" if vendor == "sqlite" else "chr"
    return f"{function}({ord(char)})"


def safe_cell_sql(expression: str, *, vendor: str = "postgresql") -> str:
    """SQL (PostgreSQL, or SQLite with ``vendor="sqlite"``): ``safe_cell`` of the text
    ``expression``. NULL stays NULL."""
    prefixes = ", ".join(_sql_char(char, vendor) for char in FORMULA_PREFIXES)
    return (
        f"CASE WHEN substr({expression}, 1, 1) IN ({prefixes}) "
        f"THEN '''' || {expression} ELSE {expression} END"
    )


def csv_text_sql(expression: str, *, vendor: str = "postgresql") -> str:
    """SQL: ``csv_text`` of the text ``expression``. NULL stays NULL."""
    mark = _sql_char(CSV_TEXT_MARK, vendor)
    digits_only = (
        f"{expression} <> '' AND {expression} NOT GLOB '*[^0-9]*'"
        if vendor == "sqlite"
        else f"{expression} ~ '^[0-9]+$'"
    )
    return f"CASE WHEN {digits_only} THEN {expression} || {mark} ELSE {expression} END"
