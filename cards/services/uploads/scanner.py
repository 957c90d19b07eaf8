"""Reading an order file's rows and checking each through ``LineRules`` (``_Scanner``): what a row
is once normalised, and its errors by column."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from cards.models import CardProduct, DeliveryMethod, OrderUpload
from cards.selectors import catalog_products
from cards.services.orders import CheckedLine, LineInput, LineProblem, LineRules
from portal.tabular import HeaderMatch, Table, match_headers, normalise_cell, read_table

from .base import ORDER_COLUMNS, REQUIRED_COLUMNS

# LineProblem fields -> order file columns.
_PROBLEM_COLUMN = {"recipient_mobile": "mobile", "recipient_email": "email"}
# The apostrophe the error file puts before a cell that would start a formula
# (portal.exports.FORMULA_PREFIXES), taken off again when the file comes back.
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")
_SUMMARY = re.compile(
    r"(?:合\s*计|总\s*计|小\s*计|共\s*计|總\s*計|小\s*計|grand\s*total|sub\s*total|total|sum)"
    r"(?:$|[\s:(])",
    re.IGNORECASE,
)
_MOBILE_NOISE = re.compile(r"[\s\-().]")  # after NFKC
_CURRENCY = re.compile(r"^(?:¥|￥|CNY|RMB)\s*|\s*(?:元|CNY|RMB)$", re.IGNORECASE)


@dataclass
class _RowOutcome:
    row: int
    cells: list[str]
    line: CheckedLine | None
    errors: list[dict[str, Any]]
    note: str = ""
    # The note again, as a function, to store it in every language.
    note_text: Callable[[], str] | None = None


@dataclass
class _Scanner:
    """Reads an order file's rows and checks each through ``LineRules``: what a row is, once
    normalised. Remembers what repeats (products, face values, mobiles' shapes)."""

    upload: OrderUpload
    table: Table
    match: HeaderMatch
    rules: LineRules
    products: dict[str, CardProduct | str] = field(default_factory=dict)
    # How many more rows' errors to render in every language (the rows whose errors the check
    # stores; the error file is rendered afresh in its reader's language).
    every_language_rows: int = 0
    # The rules cache their messages, so each language has its own.
    _rules_by_language: dict[str, LineRules] = field(default_factory=dict)
    _catalog: dict[str, list[CardProduct]] = field(default_factory=dict)
    _face_texts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        company = self.upload.company
        offered = list(catalog_products(company))
        others = CardProduct.objects.filter(active=True, company__isnull=False).exclude(
            company=company
        )
        # The company's own catalog wins a name it shares with another company's product.
        for group in (offered, list(others)):
            names: dict[str, list[CardProduct]] = {}
            for product in group:
                keys = {str(product.public_id), product.name, product.name_en}
                for key in keys:
                    if key:
                        names.setdefault(_product_key(key), []).append(product)
            for key, products in names.items():
                self._catalog.setdefault(key, products)
        columns = self.match.columns
        self.index = tuple(
            columns.get(name, -1)
            for name in (
                "product",
                "face_value",
                "quantity",
                "recipient_name",
                "mobile",
                "email",
                "employee_id",
                "cost_center",
                "note",
            )
        )
        self.recipients_needed = self.upload.delivery_method == DeliveryMethod.RECIPIENTS

    def column_label(self, name: str) -> str:
        index = self.match.columns.get(name)
        if index is not None and index < len(self.table.header):
            return self.table.header[index]
        return ORDER_COLUMNS[name][0 if _chinese() else 1]

    def product(self, cell: str) -> CardProduct | str:
        found = self.products.get(cell)
        if found is None:
            candidates = self._catalog.get(_product_key(cell), [])
            found = candidates[0] if len(candidates) == 1 else cell
            self.products[cell] = found
        return found

    def ambiguous(self, cell: str) -> bool:
        return len(self._catalog.get(_product_key(cell), [])) > 1

    def face_text(self, cell: str) -> str:
        found = self._face_texts.get(cell)
        if found is None:
            text = normalise_cell(cell)
            found = self._face_texts[cell] = _CURRENCY.sub("", text).replace(" ", "")
        return found

    def outcomes(self) -> Iterator[_RowOutcome]:
        (
            i_product,
            i_face,
            i_quantity,
            i_name,
            i_mobile,
            i_email,
            i_employee,
            i_cost,
            i_note,
        ) = self.index
        check = self.rules.check
        for number, cells in self.table.rows():
            if not cells:

                def blank(row: int = number) -> str:
                    return _("Row %(row)s is blank; skipped.") % {"row": row}

                yield _RowOutcome(number, cells, None, [], blank(), blank)
                continue
            n = len(cells)
            product_cell = cells[i_product] if 0 <= i_product < n else ""
            face_cell = cells[i_face] if 0 <= i_face < n else ""
            quantity_cell = cells[i_quantity] if 0 <= i_quantity < n else ""
            mobile = _value(cells[i_mobile]) if 0 <= i_mobile < n else ""
            if mobile and not (mobile.isascii() and mobile.isdigit()):
                mobile = _MOBILE_NOISE.sub("", mobile)
            raw = LineInput(
                product=self.product(_value(product_cell)),
                face_value=self.face_text(_value(face_cell)),
                quantity=_value(quantity_cell) or 1,
                recipient_name=_value(cells[i_name]) if 0 <= i_name < n else "",
                recipient_mobile=mobile,
                recipient_email=_value(cells[i_email]) if 0 <= i_email < n else "",
                employee_id=_value(cells[i_employee]) if 0 <= i_employee < n else "",
                cost_center=_value(cells[i_cost]) if 0 <= i_cost < n else "",
                note=_value(cells[i_note]) if 0 <= i_note < n else "",
            )
            line, problems = check(raw)
            if line is not None and self.recipients_needed:
                line, problems = self.recipient_check(line, problems)
            if problems:
                summary = self.summary_word(cells)
                if summary:

                    def total_row(row: int = number, text: str = summary) -> str:
                        return _("Row %(row)s is a total row (“%(text)s”); skipped.") % {
                            "row": row,
                            "text": text,
                        }

                    yield _RowOutcome(number, cells, None, [], total_row(), total_row)
                    continue
                errors = self.errors(number, cells, problems)
                if self.every_language_rows > 0:
                    self.every_language_rows -= 1
                    errors = self.in_every_language(raw, number, cells, errors)
                yield _RowOutcome(number, cells, None, errors)
                continue
            yield _RowOutcome(number, cells, line, [])

    def recipient_check(
        self, line: CheckedLine, problems: list[LineProblem]
    ) -> tuple[CheckedLine | None, list[LineProblem]]:
        recipient = line.recipient
        if recipient["recipient_email"] or recipient["recipient_mobile"]:
            return line, problems
        return None, [
            LineProblem(
                "recipient_mobile",
                _("recipient"),
                recipient["recipient_name"] or "—",
                _("delivery to recipients needs an email or mobile on every line."),
            )
        ]

    def in_every_language(
        self, raw: LineInput, number: int, cells: list[str], errors: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The row's errors with their column and reason in each language (issue 12, defect
        4): stored so that each reader reads them in their own language, whoever uploaded."""
        rendered: dict[str, list[dict[str, Any]]] = {}
        for language, _name in settings.LANGUAGES:
            rules = self._rules_by_language.get(language)
            if rules is None:
                rules = self._rules_by_language[language] = LineRules(self.upload.company)
            with translation.override(language):
                line, problems = rules.check(raw)
                if line is not None and self.recipients_needed:
                    line, problems = self.recipient_check(line, problems)
                rendered[language] = self.errors(number, cells, problems)
        if any(len(found) != len(errors) for found in rendered.values()):
            return errors  # pragma: no cover - the rules answer the same in every language
        return [
            {
                **error,
                "column": {language: found[i]["column"] for language, found in rendered.items()},
                "reason": {language: found[i]["reason"] for language, found in rendered.items()},
            }
            for i, error in enumerate(errors)
        ]

    def summary_word(self, cells: list[str]) -> str:
        first = next((c for c in cells if c.strip()), "")
        text = normalise_cell(first)
        return text if _SUMMARY.match(text) else ""

    def errors(
        self, number: int, cells: list[str], problems: list[LineProblem]
    ) -> list[dict[str, Any]]:
        result = []
        for problem in problems:
            column = _PROBLEM_COLUMN.get(problem.field, problem.field)
            index = self.match.columns.get(column)
            # The cell as written in the file; the rule's own value for a column not in it.
            value = problem.value if index is None else (cells[index : index + 1] or [""])[0]
            reason = problem.reason
            if column == "product" and isinstance(value, str) and self.ambiguous(value):
                reason = _(
                    "several products in the catalog have this name; give the product id instead."
                )
            result.append(
                {
                    "row": number,
                    "column": self.column_label(column),
                    "value": "" if value is None else str(value),
                    "reason": reason,
                }
            )
        return result


def _value(cell: str) -> str:
    """A cell as the rules read it: the error file's neutralising apostrophe taken off, then
    NFKC (full-width digits, letters, at signs and punctuation half-width), trimmed, one space
    between words."""
    if cell.startswith(_NEUTRALISED):
        cell = cell[1:]
    return normalise_cell(cell)


def _product_key(text: str) -> str:
    return normalise_cell(text).replace(" ", "").casefold()


def _chinese() -> bool:
    return (translation.get_language() or "").startswith("zh")


def _open_stored(upload: OrderUpload) -> IO[bytes]:
    stored = upload.file.storage.open(str(upload.file.name), "rb")
    raw: IO[bytes] = getattr(stored, "file", stored)
    return raw


def _scanner(upload: OrderUpload, binary: IO[bytes]) -> _Scanner:
    table = read_table(
        binary,
        file_name=upload.file_name,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_rows=settings.UPLOAD_MAX_ROWS,
    )
    match = match_headers(table.header, ORDER_COLUMNS, REQUIRED_COLUMNS)
    return _Scanner(upload=upload, table=table, match=match, rules=LineRules(upload.company))
