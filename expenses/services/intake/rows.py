"""One claim line, as a person wrote it, checked and normalised: ``LineRules.check`` answers the
line ready to write, or its problems by field (each reason a function, so that it can be
rendered in every portal language)."""

from __future__ import annotations

import datetime
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from billing.money import ZERO, parse_amount
from portal.tabular import normalise_cell

from .base import EXPENSE_COLUMNS, MAX_LENGTHS, REQUIRED_VALUES

# The apostrophe the error file puts before a cell that would start a formula
# (portal.exports.FORMULA_PREFIXES), taken off again when the file comes back.
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")
_CURRENCY = re.compile(r"^(?:¥|￥|CNY|RMB)\s*|\s*(?:元|CNY|RMB)$", re.IGNORECASE)
# After NFKC: 2026-01-31, 2026/1/31, 2026.01.31, 2026年1月31日, then any time of day.
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:[ T].*)?")
_CARD_NOISE = re.compile(r"[\s\-]")
_NAMES = tuple(EXPENSE_COLUMNS)
_ALL_FIELDS = operator.itemgetter(*_NAMES)
_SHORTEST_LIMIT = min(MAX_LENGTHS.values())
# The cells of a row joined by NUL (never whitespace, never composed by NFKC).
_CELL_SEP = "\x00"
# Whitespace other than a plain space.
_ODD_WHITESPACE = re.compile(r"[^\S ]")
# A plain amount, as ``parse_amount`` reads it unchanged: digits, perhaps two decimals.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?")
_CENT = Decimal("0.01")
_DAYS_KEPT = 4096
_SUMMARY = re.compile(
    r"(?:合\s*计|总\s*计|小\s*计|共\s*计|總\s*計|小\s*計|grand\s*total|sub\s*total|total|sum)"
    r"(?:$|[\s:(])",
    re.IGNORECASE,
)

Reason = Callable[[], str]


@dataclass
class Problem:
    """What is wrong with one field of a line: the value as written, and why (a function giving
    the reason in the active language)."""

    field: str
    value: str
    reason: Reason


@dataclass
class CheckedLine:
    report_number: str
    line_number: str
    employee_id: str
    employee_name: str
    expense_date: datetime.date
    amount: Decimal
    merchant_name: str
    merchant_reference: str
    card_serial: str
    card_last4: str
    cost_center: str
    category: str
    fapiao_number: str
    description: str


def cell_value(value: object) -> str:
    """A cell (or a JSON value) as the rules read it: the error file's neutralising apostrophe
    taken off, then NFKC (full-width digits and letters half-width), trimmed, one space between
    words."""
    if type(value) is str:
        if not value:
            return ""
        text = value
    elif value is None:
        return ""
    elif isinstance(value, Decimal):
        text = format(value, "f")
    else:
        text = str(value)
    if text[:1] == "'" and text.startswith(_NEUTRALISED):
        text = text[1:]
    return normalise_cell(text)


def cell_values(raw: Mapping[str, object]) -> dict[str, str]:
    """Every field of a line as :func:`cell_value` reads it. A row of text cells already clean
    (the common case) is checked in one pass over the joined row."""
    try:
        cells = _ALL_FIELDS(raw)
        joined = _CELL_SEP.join(cells)
    except (KeyError, TypeError):  # a field missing, or a value not text (a JSON number, None)
        joined = None
    if (
        joined is not None
        and (joined.isascii() or unicodedata.is_normalized("NFKC", joined))
        and not _needs_cleaning(joined)
    ):
        return dict(zip(_NAMES, cells, strict=True))
    return {name: cell_value(raw.get(name)) for name in _NAMES}


def _needs_cleaning(joined: str) -> bool:
    """Whether some cell of the NUL-joined row is not as ``cell_value`` leaves it: whitespace at
    either end of a cell, a run of it or other than a plain space, or a leading apostrophe (the
    error file's, perhaps)."""
    return bool(
        "  " in joined
        or " \x00" in joined
        or "\x00 " in joined
        or "\x00'" in joined
        or joined[:1] in (" ", "'")
        or joined[-1:] == " "
        or _ODD_WHITESPACE.search(joined)
    )


def summary_word(cells: list[str]) -> str:
    """The first non-empty cell of a row, when it says the row is a total ("合计", "Total")."""
    first = next((c for c in cells if c.strip()), "")
    text = normalise_cell(first)
    return text if _SUMMARY.match(text) else ""


def parse_day(text: str) -> datetime.date | None:
    """A date in the forms expense systems export: 2026-01-31, 2026/1/31, 2026.01.31,
    20260131, 2026年1月31日, each perhaps followed by a time of day."""
    match = _DATE.fullmatch(text) or _DATE_COMPACT.fullmatch(text)
    if match is None:
        return None
    try:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


class LineRules:
    """The rules of one claim line, the same for a file's rows and the API's JSON lines.
    ``closed`` maps the first day of each closed period's month to its label ("2026-10")."""

    def __init__(self, *, closed: Mapping[datetime.date, str], today: datetime.date) -> None:
        self.closed = closed
        self.today = today
        # A report has few distinct dates: each text's answer (the day, or why not) kept.
        self._days: dict[str, tuple[datetime.date | None, Reason | None]] = {}

    def check(self, raw: Mapping[str, object]) -> tuple[CheckedLine | None, list[Problem]]:
        problems: list[Problem] = []
        values = cell_values(raw)
        for name in REQUIRED_VALUES:
            if not values[name]:
                problems.append(Problem(name, "", _empty))
        if max(map(len, values.values())) > _SHORTEST_LIMIT:
            for name, limit in MAX_LENGTHS.items():
                if len(values[name]) > limit:
                    problems.append(Problem(name, values[name], _too_long(limit)))
        day = self._day(values, problems)
        amount = self._amount(raw.get("amount"), values["amount"], problems)
        serial, last4 = self._card(values, problems)
        fapiao = values["fapiao_number"]
        if fapiao and not (fapiao.isascii() and fapiao.isdigit() and 8 <= len(fapiao) <= 20):
            problems.append(Problem("fapiao_number", fapiao, _bad_fapiao))
        if problems or day is None or amount is None:
            return None, problems
        return (
            CheckedLine(
                report_number=values["report_number"],
                line_number=values["line_number"],
                employee_id=values["employee_id"],
                employee_name=values["employee_name"],
                expense_date=day,
                amount=amount,
                merchant_name=values["merchant_name"],
                merchant_reference=values["merchant_reference"],
                card_serial=serial,
                card_last4=last4,
                cost_center=values["cost_center"],
                category=values["category"],
                fapiao_number=fapiao,
                description=values["description"],
            ),
            [],
        )

    def _day(self, values: dict[str, str], problems: list[Problem]) -> datetime.date | None:
        text = values["expense_date"]
        if not text:
            return None
        known = self._days.get(text)
        if known is None:
            known = self._read_day(text)
            if len(self._days) < _DAYS_KEPT:
                self._days[text] = known
        day, reason = known
        if reason is not None:
            problems.append(Problem("expense_date", text, reason))
            return None
        return day

    def _read_day(self, text: str) -> tuple[datetime.date | None, Reason | None]:
        day = parse_day(text)
        if day is None:
            return None, _bad_date
        if day > self.today:
            return None, _future_date
        closed = self.closed.get(day.replace(day=1))
        if closed is not None:
            return None, _closed_period(closed)
        return day, None

    def _amount(self, given: object, text: str, problems: list[Problem]) -> Decimal | None:
        if not text:
            return None
        if isinstance(given, bool) or not isinstance(given, str | int | Decimal | float):
            problems.append(Problem("amount", text, _bad_amount))
            return None
        if _PLAIN_AMOUNT.fullmatch(text):  # what parse_amount makes of it, without its checks
            plain = Decimal(text).quantize(_CENT)
            if plain <= ZERO:
                problems.append(Problem("amount", text, _amount_not_positive))
                return None
            return plain
        cleaned = _CURRENCY.sub("", text).replace(" ", "") if isinstance(given, str) else text
        try:
            amount = parse_amount(cleaned)
        except ValidationError as exc:
            code = getattr(exc, "code", "invalid")
            problems.append(
                Problem(
                    "amount",
                    text,
                    {"decimals": _amount_decimals, "too_large": _amount_too_large}.get(
                        str(code), _bad_amount
                    ),
                )
            )
            return None
        if amount <= ZERO:
            problems.append(Problem("amount", text, _amount_not_positive))
            return None
        return amount

    def _card(self, values: dict[str, str], problems: list[Problem]) -> tuple[str, str]:
        serial_text, last4_text = values["card_serial"], values["card_last4"]
        if not serial_text and not last4_text:
            return "", ""
        serial = _CARD_NOISE.sub("", serial_text)
        last4 = _CARD_NOISE.sub("", last4_text)
        if serial and not (serial.isascii() and serial.isdigit() and len(serial) == 16):
            reason = _serial_as_number if _looks_like_a_number(serial) else _bad_serial
            problems.append(Problem("card_serial", serial_text, reason))
            serial = ""
        if last4 and not (last4.isascii() and last4.isdigit() and len(last4) == 4):
            problems.append(Problem("card_last4", last4_text, _bad_last4))
            return serial, ""
        if serial and last4 and serial[-4:] != last4:
            problems.append(Problem("card_last4", last4_text, _last4_mismatch(serial)))
        return serial, last4 or serial[-4:]


def _looks_like_a_number(text: str) -> bool:
    """What Excel makes of a 16-digit number typed into a cell: 6.2E+15, or its digits with the
    last ones lost."""
    return bool(re.fullmatch(r"\d(?:\.\d+)?E\+\d+", text, re.IGNORECASE)) or (
        text.replace(".", "").isdigit() and "." in text
    )


def _empty() -> str:
    return _("is empty; every line needs it.")


def _too_long(limit: int) -> Reason:
    return lambda: _("is longer than %(max)s characters.") % {"max": limit}


def _bad_date() -> str:
    return _("is not a date; write it as 2026-01-31 (or 2026/1/31, 2026年1月31日).")


def _future_date() -> str:
    return _("is in the future; an expense has a date on or before today.")


def _closed_period(label: str) -> Reason:
    return lambda: (
        _(
            "falls in period %(period)s, which is closed; claims of a closed period cannot be "
            "added (an owner can re-open it)."
        )
        % {"period": label}
    )


def _bad_amount() -> str:
    return _("is not an amount; write digits such as 128 or 99.50.")


def _amount_decimals() -> str:
    return _("has more than 2 decimal places.")


def _amount_too_large() -> str:
    return _("is too large.")


def _amount_not_positive() -> str:
    return _("must be more than 0.00.")


def _bad_serial() -> str:
    return _("is not a card serial: a card serial has 16 digits.")


def _serial_as_number() -> str:
    return _(
        "is not a card serial: a card serial has 16 digits, and the spreadsheet turned this one "
        "into a number. Format the column as text and type the serial again."
    )


def _bad_last4() -> str:
    return _("is not the last 4 of a card: write 4 digits.")


def _last4_mismatch(serial: str) -> Reason:
    return lambda: _("does not match the card serial %(serial)s.") % {"serial": serial}


def _bad_fapiao() -> str:
    return _("is not a fapiao number: write its 8 to 20 digits.")
