"""Order files: a buyer's CSV or XLSX of card lines, checked (a dry run with totals and every
error by row), then confirmed into one draft order, all lines in one transaction or nothing.

The format (docs/uploads.md): one row per line, columns in any order, headers in Chinese or
English (``ORDER_COLUMNS``). ``product`` and ``face value`` are required; without a quantity
column, or with the quantity cell empty, a row is one card. Blank rows and total rows
("合计", "Total"...) are skipped with a note naming the row; the same mobile, email or employee
id on two rows is a warning naming both (a person may get two cards), not an error.

Every line goes through ``cards.services.orders.LineRules``, the rules of the portal form and
the API, with the same messages. The file is normalised first (full-width characters, spaces,
thousands separators "1,000.00", currency signs, mobiles written "+86 138-0013-8000").

Small files are checked while the buyer waits; larger ones (``UPLOAD_INLINE_MAX_BYTES``) by the
``cards.tasks.upload_check`` task, with progress in ``rows_done``. A valid check keeps the
normalised lines in a file beside the upload (PostgreSQL COPY text), so that confirming reads
them once, re-checks each product, face value and quantity against the catalog and prices of
that moment, and streams the lines into the order with COPY: memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.money import ZERO, format_cny
from cards.models import (
    CardProduct,
    CardType,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderUpload,
    PaymentMethod,
    UploadStatus,
)
from cards.selectors import catalog_products
from cards.services.orders import (
    CheckedLine,
    LineInput,
    LineProblem,
    LineRules,
    OrderTotals,
    order_insert,
    registration_required,
)
from cards.services.orders.base import _check_methods, _require_active_company
from portal import policy
from portal.exports import CsvWriter, XlsxWriter
from portal.models import ApiKey, Company, User, register_audit_actions
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from portal.tabular import HeaderMatch, Table, TableError, match_headers, normalise_cell, read_table


class UploadAction(models.TextChoices):
    RECEIVED = "order_upload.received", gettext_lazy("Uploaded an order file")
    CONFIRMED = "order_upload.confirmed", gettext_lazy("Created an order from an order file")
    DISCARDED = "order_upload.discarded", gettext_lazy("Discarded an order file")


register_audit_actions(UploadAction)

# Field -> header aliases. The first two (Chinese, English) name a missing column in messages
# and head the template's columns.
ORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "product": (
        "产品",
        "Product",
        "商品",
        "卡种",
        "产品名称",
        "商品名称",
        "卡类型",
        "card",
        "card type",
    ),
    "face_value": ("面值", "Face value", "面额", "金额", "value", "amount", "denomination"),
    "quantity": ("数量", "Quantity", "张数", "卡数", "qty", "count", "cards"),
    "recipient_name": ("姓名", "Name", "收卡人", "收件人", "员工姓名", "recipient", "full name"),
    "mobile": ("手机", "Mobile", "手机号", "手机号码", "电话", "phone", "mobile number"),
    "email": ("邮箱", "Email", "电子邮箱", "邮件", "e-mail", "email address"),
    "employee_id": ("工号", "Employee ID", "员工编号", "员工号", "staff id", "employee number"),
    "cost_center": ("成本中心", "Cost center", "部门", "cost centre", "department"),
    "note": ("备注", "Note", "说明", "notes", "remark", "remarks", "comment"),
}
REQUIRED_COLUMNS = {"product", "face_value"}
TEMPLATE_HEADERS = {
    "zh-hans": [aliases[0] for aliases in ORDER_COLUMNS.values()],
    "en": [aliases[1] for aliases in ORDER_COLUMNS.values()],
}
MAX_STORED_ERRORS = 1000
MAX_STORED_NOTES = 200
PROGRESS_EVERY = 5000
# LineProblem fields -> order file columns.
_PROBLEM_COLUMN = {"recipient_mobile": "mobile", "recipient_email": "email"}
_SUMMARY = re.compile(
    r"(?:合\s*计|总\s*计|小\s*计|共\s*计|總\s*計|小\s*計|grand\s*total|sub\s*total|total|sum)"
    r"(?:$|[\s:(])",
    re.IGNORECASE,
)
_MOBILE_NOISE = re.compile(r"[\s\-().]")  # after NFKC
_CURRENCY = re.compile(r"^(?:¥|￥|CNY|RMB)\s*|\s*(?:元|CNY|RMB)$", re.IGNORECASE)
_LINE_COLUMNS = (
    "order_id",
    "position",
    "product_id",
    "face_value",
    "quantity",
    "unit_price",
    "amount",
    "recipient_name",
    "recipient_mobile",
    "recipient_email",
    "employee_id",
    "cost_center",
    "note",
)
_COPY_BLOCK = 5000


# --- Receiving --------------------------------------------------------------------------------


def _creator(company: Company, actor: User, on_behalf: bool, for_member: User | None) -> User:
    """Who the draft belongs to: the buyer who uploads, or (support uploading on a company's
    behalf) the purchaser or owner the operator chose."""
    if not on_behalf:
        policy.require(company, actor, Action.ORDER_UPLOAD)
        return actor
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only support staff upload order files for a company."))
    if for_member is None:
        raise ValidationError(
            {"for_member": _("Choose the company's purchaser the draft order is for.")}
        )
    policy.require(company, for_member, Action.ORDER_UPLOAD)
    return for_member


def _raw_file(file: UploadedFile | File[Any] | IO[bytes]) -> IO[bytes]:
    raw: IO[bytes] = getattr(file, "file", None) or file
    raw.seek(0)
    return raw


def _too_large(size: int) -> TableError:
    mb = 1024 * 1024
    return TableError(
        _("The file is %(size)s MB; files of at most %(max)s MB are accepted.")
        % {
            "size": f"{size / mb:.1f}".removesuffix(".0"),
            "max": f"{settings.UPLOAD_MAX_BYTES / mb:.1f}".removesuffix(".0"),
        },
        code="too_large",
    )


@transaction.atomic
def upload_receive(
    *,
    company: Company,
    actor: User,
    file: UploadedFile,
    payment_method: str = PaymentMethod.CREDIT,
    delivery_method: str = DeliveryMethod.FILE,
    api_key: ApiKey | None = None,
    on_behalf: bool = False,
    for_member: User | None = None,
) -> OrderUpload:
    """Store an order file and check it: at once when it is small, else in a worker (status
    CHECKING; the page polls ``upload_progress``).

    Refused before anything is stored (TableError, a ValidationError): a file over
    ``UPLOAD_MAX_BYTES`` (from its size, unread), an empty file, one that is not CSV or XLSX,
    a header without rows or without a required column, and, for a file checked at once, one
    that cannot be read to the end (another encoding in a row, too many rows).
    ``on_behalf``: an operator (staff) uploads for the company; ``for_member`` is the
    company's purchaser or owner who will own the draft.
    """
    creator = _creator(company, actor, on_behalf, for_member)
    _require_active_company(company)
    _check_methods(payment_method, delivery_method)
    size = file.size or 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise _too_large(size)
    name = os.path.basename(file.name or "order-file")[:200] or "order-file"
    raw = _raw_file(file)
    table = read_table(
        raw, file_name=name, max_bytes=settings.UPLOAD_MAX_BYTES, max_rows=settings.UPLOAD_MAX_ROWS
    )
    match_headers(table.header, ORDER_COLUMNS, REQUIRED_COLUMNS)
    raw.seek(0)
    digest = hashlib.file_digest(raw, "sha256").hexdigest()  # type: ignore[arg-type]
    raw.seek(0)
    upload = OrderUpload(
        company=company,
        created_by=creator,
        created_via_key=api_key,
        on_behalf=on_behalf,
        file_name=name,
        file_size=size,
        file_sha256=digest,
        file_format=table.format,
        encoding=table.encoding,
        payment_method=payment_method,
        delivery_method=delivery_method,
        result={"language": translation.get_language() or settings.LANGUAGE_CODE},
    )
    upload.file.save(name, File(raw, name=name), save=False)
    try:
        inline = size <= settings.UPLOAD_INLINE_MAX_BYTES
        upload.status = UploadStatus.RECEIVED if inline else UploadStatus.CHECKING
        upload.save()
        audit_record(
            action=UploadAction.RECEIVED,
            actor=actor,
            company=company,
            obj=upload,
            changes={
                "file": name,
                "size": size,
                "sha256": digest,
                "on_behalf": on_behalf,
                "for": creator.email,
                "via": "api" if api_key else ("admin" if on_behalf else "portal"),
            },
        )
        if inline:
            _check(upload)
        else:
            from cards import tasks

            outbox_enqueue(tasks.upload_check, upload.pk)
    except BaseException:
        _delete_files(upload)
        raise
    return upload


def _delete_files(upload: OrderUpload) -> None:
    storage = upload.file.storage
    for name in (upload.file.name, (upload.result or {}).get("lines_file")):
        if name and storage.exists(name):
            storage.delete(name)


# --- Checking ---------------------------------------------------------------------------------


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
            mobile_cell = cells[i_mobile] if 0 <= i_mobile < n else ""
            mobile = mobile_cell
            if mobile and not mobile.isdigit():
                mobile = _MOBILE_NOISE.sub("", unicodedata.normalize("NFKC", mobile))
            raw = LineInput(
                product=self.product(product_cell),
                face_value=self.face_text(face_cell),
                quantity=quantity_cell if quantity_cell.strip() else 1,
                recipient_name=normalise_cell(cells[i_name]) if 0 <= i_name < n else "",
                recipient_mobile=mobile,
                recipient_email=cells[i_email] if 0 <= i_email < n else "",
                employee_id=normalise_cell(cells[i_employee]) if 0 <= i_employee < n else "",
                cost_center=normalise_cell(cells[i_cost]) if 0 <= i_cost < n else "",
                note=normalise_cell(cells[i_note]) if 0 <= i_note < n else "",
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


def in_every_language(text: Callable[[], str]) -> dict[str, str]:
    """``text()`` in each of the portal's languages, for a message stored for many readers."""
    rendered = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            rendered[language] = text()
    return rendered


def localised(value: Any) -> str:
    """A stored message in the reader's language: a message stored in every language (a dict
    by language code) gives the active language's text; a plain text (stored before messages
    were stored in every language) reads as stored."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    language = translation.get_language() or settings.LANGUAGE_CODE
    for code in (language, "en" if language.startswith("en") else "zh-hans"):
        if code in value:
            return str(value[code])
    return str(next(iter(value.values()), ""))


def upload_errors(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored errors of a check, their column and reason in the reader's language."""
    return [
        {
            **error,
            "column": localised(error.get("column")),
            "reason": localised(error.get("reason")),
        }
        for error in (result or {}).get("errors") or []
    ]


def upload_messages(result: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    """The stored ``notes`` or ``warnings`` of a check, in the reader's language."""
    return [
        {**item, "message": localised(item.get("message"))}
        for item in (result or {}).get(kind) or []
    ]


def upload_result_for_reader(result: dict[str, Any]) -> dict[str, Any]:
    """The stored result of a check as a reader reads it (errors, notes and warnings in their
    language)."""
    return {
        **result,
        "errors": upload_errors(result),
        "notes": upload_messages(result, "notes"),
        "warnings": upload_messages(result, "warnings"),
    }


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


def _count_lines(binary: IO[bytes]) -> int:
    count = 0
    while block := binary.read(1 << 20):
        count += block.count(b"\n")
    binary.seek(0)
    return count


_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})


def _copy_text(value: str) -> str:
    """A value for COPY's text format: backslash, tab and line breaks escaped, NUL (which
    PostgreSQL text cannot hold) dropped."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _copy_unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), value)


class _LineWriter:
    """Where confirmed lines go: PostgreSQL's COPY, or (the embedded SQLite default of a
    laptop) ``bulk_create`` of the same rows."""

    def __init__(self, cursor: Any, sql: str) -> None:
        self._copy_cm = cursor.cursor.copy(sql) if connection.vendor == "postgresql" else None
        self._copy: Any = None

    def __enter__(self) -> _LineWriter:
        if self._copy_cm is not None:
            self._copy = self._copy_cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        if self._copy_cm is not None:
            return self._copy_cm.__exit__(*exc)
        return None

    def write(self, text: str) -> None:
        if self._copy is not None:
            self._copy.write(text)
            return
        rows = []
        for record in text.split("\n"):
            if not record:
                continue
            values = dict(zip(_LINE_COLUMNS, record.split("\t"), strict=True))
            rows.append(
                OrderLine(
                    order_id=int(values["order_id"]),
                    position=int(values["position"]),
                    product_id=int(values["product_id"]),
                    face_value=Decimal(values["face_value"]),
                    quantity=int(values["quantity"]),
                    unit_price=Decimal(values["unit_price"]),
                    amount=Decimal(values["amount"]),
                    **{name: _copy_unescape(values[name]) for name in _LINE_COLUMNS[7:]},
                )
            )
        OrderLine.objects.bulk_create(rows, batch_size=500)


def upload_check(*, upload: OrderUpload) -> OrderUpload:
    """Check an order file (the dry run): read it, normalise and check every row, and store
    the outcome in ``upload.result`` (totals per product and face value, price, notes,
    warnings, the first 1,000 errors and ``duplicate_of``) with status VALID or INVALID, or
    FAILED with the reason when the file cannot be read to the end. Progress goes to
    ``rows_done`` as it reads (committed at once when called outside a transaction, as the
    worker does). An upload no longer waiting for its check is left alone."""
    try:
        return _check(upload)
    except TableError as exc:
        return _finish(upload, status=UploadStatus.FAILED, failure=exc.messages[0][:500])


def _check(upload: OrderUpload) -> OrderUpload:
    progress = not connection.in_atomic_block
    with _open_stored(upload) as binary:
        rows_total = max(_count_lines(binary) - 1, 0) if upload.file_format == "csv" else 0
        scanner = _scanner(upload, binary)
        scanner.every_language_rows = MAX_STORED_ERRORS
        if scanner.table.rows_estimate:
            rows_total = scanner.table.rows_estimate - scanner.table.header_row
        if progress:
            OrderUpload.objects.filter(pk=upload.pk).update(rows_total=rows_total, rows_done=0)
        upload.rows_total = rows_total
        return _check_rows(upload, scanner, progress=progress)


def _check_rows(upload: OrderUpload, scanner: _Scanner, *, progress: bool) -> OrderUpload:
    errors: list[dict[str, Any]] = []
    error_count = 0
    notes: list[dict[str, Any]] = []
    note_count = 0
    warnings: list[dict[str, Any]] = []
    warning_count = 0
    seen: dict[str, dict[str, int]] = {"mobile": {}, "email": {}, "employee_id": {}}
    seen_mobile, seen_email, seen_employee = seen["mobile"], seen["email"], seen["employee_id"]
    # (product pk, face value) -> [lines, cards, amount]
    totals: dict[tuple[int, Decimal], list[Any]] = {}
    products: dict[int, CardProduct] = {}
    has_registered = False
    line_count = 0
    last_row = scanner.table.header_row
    next_progress = PROGRESS_EVERY
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n") as lines_file:
        write = lines_file.write
        for outcome in scanner.outcomes():
            number = last_row = outcome.row
            if progress and number >= next_progress:
                next_progress = number + PROGRESS_EVERY
                OrderUpload.objects.filter(pk=upload.pk).update(rows_done=number - 1)
            line = outcome.line
            if line is None:
                if outcome.errors:
                    error_count += len(outcome.errors)
                    if len(errors) < MAX_STORED_ERRORS:
                        errors.extend(outcome.errors[: MAX_STORED_ERRORS - len(errors)])
                elif outcome.note:
                    note_count += 1
                    if len(notes) < MAX_STORED_NOTES:
                        message: Any = outcome.note
                        if outcome.note_text is not None:
                            message = in_every_language(outcome.note_text)
                        notes.append({"row": number, "message": message})
                continue
            line_count += 1
            product = line.product
            key = (product.pk, line.face_value)
            group = totals.get(key)
            if group is None:
                group = totals[key] = [0, 0, ZERO]
                products[product.pk] = product
                if product.card_type == CardType.REGISTERED:
                    has_registered = True
            group[0] += 1
            group[1] += line.quantity
            group[2] += line.amount
            recipient = line.recipient
            for kind, value, index in (
                ("mobile", recipient["recipient_mobile"], seen_mobile),
                ("email", recipient["recipient_email"], seen_email),
                ("employee_id", recipient["employee_id"], seen_employee),
            ):
                if not value:
                    continue
                first = index.get(value)
                if first is None:
                    index[value] = number
                    continue
                warning_count += 1
                if len(warnings) < MAX_STORED_NOTES:
                    warnings.append(
                        {
                            "rows": [first, number],
                            "message": in_every_language(
                                lambda: _duplicate_message(scanner, kind, value, first, number)  # noqa: B023 - called at once
                            ),
                        }
                    )
            if not error_count:
                write(
                    f"{number}\t{product.pk}\t{line.face_value}\t{line.quantity}\t"
                    f"{_copy_text(recipient['recipient_name'])}\t"
                    f"{recipient['recipient_mobile']}\t"
                    f"{_copy_text(recipient['recipient_email'])}\t"
                    f"{_copy_text(recipient['employee_id'])}\t"
                    f"{_copy_text(recipient['cost_center'])}\t"
                    f"{_copy_text(recipient['note'])}\n"
                )
        if line_count > settings.ORDER_MAX_LINES:
            error_count += 1
            errors.append(
                {
                    "row": last_row,
                    "column": "",
                    "value": f"{line_count:,}",
                    "reason": in_every_language(
                        lambda: (
                            _("An order can have at most %(max)s lines; this one has %(count)s.")
                            % {"max": f"{settings.ORDER_MAX_LINES:,}", "count": f"{line_count:,}"}
                        )
                    ),
                }
            )
        if not line_count and not error_count:
            raise TableError(
                _("The file has no order lines: every row is blank or a total row."),
                code="no_rows",
            )
        face_total = sum(
            (face_value * group[1] for (_pk, face_value), group in totals.items()), ZERO
        )
        total = sum((group[2] for group in totals.values()), ZERO)
        if scanner.match.unknown:
            note_count += 1
            notes.insert(
                0,
                {
                    "row": scanner.table.header_row,
                    "message": in_every_language(
                        lambda: (
                            _("Columns not used: %(columns)s.")
                            % {"columns": ", ".join(f"“{c}”" for c in scanner.match.unknown)}
                        )
                    ),
                },
            )
        result = {
            "language": (upload.result or {}).get("language") or translation.get_language(),
            "header": scanner.table.header,
            "columns": scanner.match.columns,
            "unknown_columns": scanner.match.unknown,
            "totals": [
                {
                    "product": str(products[pk].public_id),
                    "product_name": products[pk].display_name,
                    "face_value": str(face_value),
                    "lines": group[0],
                    "cards": group[1],
                    "face_total": str(face_value * group[1]),
                    "amount": str(group[2]),
                }
                for (pk, face_value), group in sorted(
                    totals.items(), key=lambda item: (products[item[0][0]].name, item[0][1])
                )
            ],
            "line_count": line_count,
            "card_count": sum(group[1] for group in totals.values()),
            "face_total": str(face_total),
            "total": str(total),
            "total_label": format_cny(total),
            "needs_registration": registration_required(
                face_total=face_total, total=total, has_registered=has_registered
            ),
            "notes": notes,
            "note_count": note_count,
            "warnings": warnings,
            "warning_count": warning_count,
            "errors": errors,
            "duplicate_of": _duplicate_orders(upload),
        }
        if not error_count:
            lines_file.seek(0)
            result["lines_file"] = upload.file.storage.save(
                f"{upload.file.name}.lines", File(lines_file)
            )
    return _finish(
        upload,
        status=UploadStatus.INVALID if error_count else UploadStatus.VALID,
        result=result,
        error_count=error_count,
        rows_done=max(last_row - scanner.table.header_row, 0),
    )


def _duplicate_message(scanner: _Scanner, kind: str, value: str, first: int, second: int) -> str:
    labels = {"mobile": "mobile", "email": "email", "employee_id": "employee_id"}
    return _("Rows %(first)s and %(second)s have the same %(column)s “%(value)s”.") % {
        "first": first,
        "second": second,
        "column": scanner.column_label(labels[kind]),
        "value": value,
    }


def _duplicate_orders(upload: OrderUpload) -> list[str]:
    """Order numbers of earlier uploads of the same file by the same company that became
    orders."""
    return list(
        OrderUpload.objects.filter(
            company_id=upload.company_id,
            file_sha256=upload.file_sha256,
            status=UploadStatus.CONFIRMED,
            order__isnull=False,
        )
        .exclude(pk=upload.pk)
        .order_by("confirmed_at")
        .values_list("order__number", flat=True)
    )


def _finish(
    upload: OrderUpload,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error_count: int = 0,
    failure: str = "",
    rows_done: int | None = None,
) -> OrderUpload:
    with transaction.atomic():
        locked = OrderUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.finished:
            # Discarded (or checked by another run) meanwhile: leave it as it is.
            if result and result.get("lines_file"):
                upload.file.storage.delete(result["lines_file"])
            return locked
        locked.status = status
        locked.failure = failure
        locked.error_count = error_count
        locked.result = result or {"language": (locked.result or {}).get("language", "")}
        locked.checked_at = timezone.now()
        locked.rows_total = upload.rows_total
        if rows_done is not None:
            locked.rows_done = rows_done
            locked.rows_total = max(locked.rows_total, rows_done)
        locked.save()
    upload.__dict__.update(
        {f.attname: getattr(locked, f.attname) for f in OrderUpload._meta.concrete_fields}
    )
    return upload


def upload_fail(*, upload_id: int, reason: str) -> None:
    """Mark an upload whose check broke down (the worker's last resort): FAILED, with a reason
    the buyer can read, unless it has finished meanwhile."""
    with transaction.atomic():
        locked = OrderUpload.objects.select_for_update().filter(pk=upload_id).first()
        if locked is None or locked.finished:
            return
        locked.status = UploadStatus.FAILED
        locked.failure = reason[:500]
        locked.checked_at = timezone.now()
        locked.save(update_fields=["status", "failure", "checked_at"])


def upload_progress(upload: OrderUpload) -> dict[str, Any]:
    """Where the check is, for the page that polls it (fresh from the database)."""
    row = (
        OrderUpload.objects.filter(pk=upload.pk)
        .values("status", "rows_done", "rows_total", "error_count", "failure")
        .get()
    )
    finished = row["status"] not in (UploadStatus.RECEIVED, UploadStatus.CHECKING)
    total = row["rows_total"]
    percent = 100 if finished else (min(99, row["rows_done"] * 100 // total) if total else 0)
    return {
        "status": row["status"],
        "status_label": str(UploadStatus(row["status"]).label),
        "rows_done": row["rows_done"],
        "rows_total": total,
        "percent": percent,
        "finished": finished,
        "error_count": row["error_count"],
        "failure": row["failure"],
    }


# --- The error file ---------------------------------------------------------------------------


def upload_error_rows(upload: OrderUpload) -> Iterator[list[str]]:
    """The original header and rows, each with an error column (empty on a good row; the
    reasons, or the note of a skipped row), checked again the same way as the check."""
    with _open_stored(upload) as binary:
        scanner = _scanner(upload, binary)
        width = len(scanner.table.header)
        yield [*scanner.table.header, _("error")]
        for outcome in scanner.outcomes():
            cells = outcome.cells + [""] * (width - len(outcome.cells))
            text = (
                "; ".join(f"{error['column']}: {error['reason']}" for error in outcome.errors)
                or outcome.note
            )
            yield [*cells, text]


def upload_error_file(upload: OrderUpload, fmt: str) -> bytes:
    """The error file as CSV (UTF-8 with BOM) or XLSX, through portal/exports.py, so cells that
    look like formulas are neutralised."""
    buffer = io.BytesIO()
    rows = upload_error_rows(upload)
    if fmt == "xlsx":
        header = next(rows)
        xlsx = XlsxWriter(buffer, title=_("Order file"), header=header)
        xlsx.writerows(rows)
        xlsx.close()
    elif fmt == "csv":
        writer = CsvWriter(buffer)
        writer.writerows(rows)
        writer.close()
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()


# --- Confirming and discarding ----------------------------------------------------------------


def _require_upload_actor(upload: OrderUpload, actor: User) -> None:
    if upload.on_behalf and actor.is_active and actor.is_staff:
        return
    policy.require(upload.company, actor, Action.ORDER_UPLOAD)


@transaction.atomic(durable=False)
def upload_confirm(
    *, upload: OrderUpload, actor: User, allow_duplicate: bool = False, ip: str | None = None
) -> Order:
    """Create the draft order of a checked file: all its lines in one transaction, or nothing.

    The lines are those the check kept, checked again against the catalog and prices of this
    moment (product, face value and quantity, the rules of ``LineRules``); a file already
    confirmed for this company is refused (code ``duplicate_upload``, naming the earlier order)
    unless ``allow_duplicate``."""
    locked = (
        OrderUpload.objects.select_for_update(of=("self",))
        .select_related("company", "created_by")
        .get(pk=upload.pk)
    )
    _require_upload_actor(locked, actor)
    if locked.status != UploadStatus.VALID:
        raise ValidationError(
            _("This order file cannot be confirmed: it is %(status)s.")
            % {"status": locked.get_status_display()},
            code="not_valid",
        )
    company = locked.company
    _require_active_company(company)
    _check_methods(locked.payment_method, locked.delivery_method)
    # One confirm at a time per company: two uploads of the same file confirmed at once (two
    # tabs) would otherwise both miss the other's order in the duplicate check below.
    Company.objects.select_for_update().filter(pk=company.pk).first()
    earlier = _duplicate_orders(locked)
    if earlier and not allow_duplicate:
        raise ValidationError(
            _(
                "This file was already uploaded and became order %(orders)s; confirm again only "
                "if you want a second order of the same cards."
            )
            % {"orders": ", ".join(earlier)},
            code="duplicate_upload",
        )
    order = order_insert(
        company=company,
        created_by=locked.created_by,
        actor=actor,
        totals=None,
        write_lines=lambda order: _copy_lines(order, locked),
        payment_method=locked.payment_method,
        delivery_method=locked.delivery_method,
        note=_("From order file %(name)s") % {"name": locked.file_name},
        api_key=locked.created_via_key,
        ip=ip,
        via="upload",
    )
    checked_total = (locked.result or {}).get("total")
    if checked_total is not None and order.total != Decimal(checked_total):
        # The company's price changed since the check: the buyer confirmed another total.
        raise ValidationError(
            _(
                "The price changed since the file was checked: %(then)s then, %(now)s now. "
                "Upload the file again to see today's price before confirming."
            )
            % {"then": format_cny(Decimal(checked_total)), "now": format_cny(order.total)},
            code="catalog_changed",
        )
    locked.status = UploadStatus.CONFIRMED
    locked.order = order
    locked.confirmed_at = timezone.now()
    locked.save(update_fields=["status", "order", "confirmed_at"])
    audit_record(
        action=UploadAction.CONFIRMED,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={"order": order.number, "lines": order.line_count, "duplicate": bool(earlier)},
    )
    lines_file = (locked.result or {}).get("lines_file")
    if lines_file:
        storage = locked.file.storage
        transaction.on_commit(lambda: storage.delete(lines_file))
    return order


def _copy_lines(order: Order, upload: OrderUpload) -> OrderTotals:
    """Stream the checked lines into the order with COPY, re-checking each distinct product,
    face value and quantity, and pricing them at today's price."""
    rules = LineRules(upload.company)
    # Everything the re-check reads is read before COPY starts: the connection is busy during it.
    public_ids = [group["product"] for group in upload.result.get("totals", [])]
    products = {p.pk: p for p in CardProduct.objects.filter(public_id__in=public_ids)}
    # (product pk, face value, quantity) text -> "unit\tamount" or the problems
    priced: dict[tuple[str, str, str], str] = {}
    counts: dict[tuple[str, str, str], int] = {}
    problems: list[str] = []
    table = OrderLine._meta.db_table
    sql = f"COPY {table} ({', '.join(_LINE_COLUMNS)}) FROM STDIN"
    prefix = f"{order.pk}\t"
    position = 0
    name = upload.result["lines_file"]
    with upload.file.storage.open(name, "rb") as stored, connection.cursor() as cursor:
        text = io.TextIOWrapper(getattr(stored, "file", stored), encoding="utf-8", newline="\n")
        with _LineWriter(cursor, sql) as copy:
            block: list[str] = []
            for record in text:
                row, pk, face, quantity, rest = record.split("\t", 4)
                key = (pk, face, quantity)
                price = priced.get(key)
                if price is None:
                    price = priced[key] = _reprice(rules, products, key, row, problems)
                    counts[key] = 0
                counts[key] += 1
                position += 1
                block.append(f"{prefix}{position}\t{pk}\t{face}\t{quantity}\t{price}\t{rest}")
                if len(block) >= _COPY_BLOCK:
                    copy.write("".join(block))
                    block.clear()
            if problems:
                intro = _(
                    "The catalog or the prices changed since the file was checked; upload it "
                    "again to check it against today's catalog."
                )
                raise ValidationError(
                    [
                        ValidationError(message, code="catalog_changed")
                        for message in [intro, *problems[:20]]
                    ]
                )
            if block:
                copy.write("".join(block))
    face_total = ZERO
    total = ZERO
    cards = 0
    for (_pk, face, quantity), count in counts.items():
        amount = Decimal(priced[(_pk, face, quantity)].split("\t")[1])
        face_total += Decimal(face) * int(quantity) * count
        total += amount * count
        cards += int(quantity) * count
    return OrderTotals(face_total=face_total, total=total, card_count=cards, line_count=position)


def _reprice(
    rules: LineRules,
    products: dict[int, CardProduct],
    key: tuple[str, str, str],
    row: str,
    problems: list[str],
) -> str:
    pk, face, quantity = key
    product = products.get(int(pk))
    line, broken = rules.check(
        LineInput(
            product=product if product is not None else "",
            face_value=Decimal(face),
            quantity=int(quantity),
        )
    )
    if line is None:
        problems.extend(
            _("Row %(row)s, %(field)s “%(value)s”: %(reason)s")
            % {"row": row, "field": problem.label, "value": problem.value, "reason": problem.reason}
            for problem in broken
        )
        return "0\t0"
    return f"{line.unit_price}\t{line.amount}"


@transaction.atomic
def upload_discard(*, upload: OrderUpload, actor: User) -> OrderUpload:
    """Set an upload aside (not confirmed); a check still running finds it discarded and
    leaves it."""
    locked = OrderUpload.objects.select_for_update().select_related("company").get(pk=upload.pk)
    _require_upload_actor(locked, actor)
    if locked.status in (UploadStatus.CONFIRMED, UploadStatus.DISCARDED):
        raise ValidationError(
            _("This order file is %(status)s; it cannot be discarded.")
            % {"status": locked.get_status_display()},
            code="finished",
        )
    locked.status = UploadStatus.DISCARDED
    locked.save(update_fields=["status"])
    audit_record(
        action=UploadAction.DISCARDED,
        actor=actor,
        company=locked.company,
        obj=locked,
        changes={"file": locked.file_name},
    )
    lines_file = (locked.result or {}).get("lines_file")
    if lines_file:
        storage = locked.file.storage
        transaction.on_commit(lambda: storage.delete(lines_file))
    return locked


# --- The template -----------------------------------------------------------------------------


def upload_template(*, language: str, fmt: str, company: Company | None = None) -> bytes:
    """An order file to fill in: the headers in ``language`` ("zh-hans" or "en") and two
    example rows with real products of the catalog (the company's, given one), if any."""
    chinese = language.startswith("zh")
    header = TEMPLATE_HEADERS["zh-hans" if chinese else "en"]
    products = list(catalog_products(company)[:2])
    examples: list[list[Any]] = []
    people = (
        ("张三", "13800138000", "zhangsan@example.com", "E0001", "人力资源部", "节日福利")
        if chinese
        else ("Zhang San", "13800138000", "zhang.san@example.com", "E0001", "HR", "Holiday gift"),
        ("李四", "13900139000", "lisi@example.com", "E0002", "销售部", "")
        if chinese
        else ("Li Si", "13900139000", "li.si@example.com", "E0002", "Sales", ""),
    )
    for i, person in enumerate(people):
        product = products[i % len(products)] if products else None
        if product is not None:
            name = product.name if chinese or not product.name_en else product.name_en
            values = product.listed_face_values() if product.face_values else []
            face = values[min(i, len(values) - 1)] if values else product.face_min or Decimal(100)
        else:
            name, face = ("礼品卡" if chinese else "Gift card"), Decimal(100)
        examples.append([name, f"{face:f}".removesuffix(".00"), 1, *person])
    buffer = io.BytesIO()
    with translation.override("zh-hans" if chinese else "en"):
        if fmt == "xlsx":
            xlsx = XlsxWriter(buffer, title=_("Order file"), header=header, widths=[16] * 9)
            xlsx.writerows(examples)
            xlsx.close()
        elif fmt == "csv":
            writer = CsvWriter(buffer)
            writer.writerow(header)
            writer.writerows(examples)
            writer.close()
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()
