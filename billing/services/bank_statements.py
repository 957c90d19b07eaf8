"""Importing a bank statement (CSV or XLSX) as payments.

Columns are found by their header, in Chinese or English (``COLUMNS``; docs/bank-statements.md
documents them). Every row is checked first; if any row is wrong the import stops with one error
per problem (row, column, value, reason) and nothing is saved. Otherwise, in one transaction,
each line becomes a payment through ``payment_record`` (a line seen before, in this file or an
earlier import, creates nothing and is counted as already imported), and each new payment is
matched automatically.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing.audit import BillingAction
from billing.models import BankStatementImport, Payment
from billing.money import parse_amount
from billing.services.payments import payment_auto_match, payment_dedupe_key, payment_record
from portal.errors import DomainError
from portal.models import User
from portal.services.audit import audit_record
from portal.tabular import match_headers, normalise_cell, read_table

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
MAX_ERRORS_SHOWN = 200

# Field → header aliases (compared without case, spaces, width or punctuation). The first alias
# is the name used in messages.
COLUMNS: dict[str, tuple[str, ...]] = {
    "received_on": ("交易日期", "date", "日期", "记账日期", "transaction date", "value date"),
    "amount": ("贷方金额", "amount", "金额", "收入金额", "收入", "credit", "credit amount"),
    "debit": ("借方金额", "debit", "支出金额", "支出", "debit amount"),
    "payer_name": ("对方户名", "payer", "payer name", "付款人", "对方名称", "付款人名称"),
    "payer_account": ("对方账号", "payer account", "付款账号", "付款人账号", "account number"),
    "bank_reference": ("流水号", "bank reference", "reference", "交易流水号", "transaction id"),
    "remittance": ("附言", "remittance", "用途", "备注", "memo", "remark"),
    "summary": ("摘要", "summary", "description", "narrative"),
}
REQUIRED = {"received_on", "amount", "payer_name"}

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return _("Row %(row)s, %(column)s “%(value)s”: %(reason)s") % {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
        }


class StatementFileError(DomainError):
    """The file was refused; ``rows`` lists each problem. Nothing was imported."""

    def __init__(self, rows: list[RowError]) -> None:
        super().__init__([str(error) for error in rows[:MAX_ERRORS_SHOWN]], code="invalid")
        self.rows = rows


@dataclass
class StatementLine:
    row: int
    received_on: datetime.date
    amount: Decimal
    payer_name: str
    payer_account: str
    bank_reference: str
    remittance: str


@dataclass
class ParsedStatement:
    lines: list[StatementLine] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)  # outgoing (debit) lines


def parse_date(text: str) -> datetime.date | None:
    value = normalise_cell(text)
    value = re.split(r"[ T]", value, maxsplit=1)[0] if value else value
    for pattern in _DATE_FORMATS:
        try:
            parsed = time.strptime(value, pattern)
        except ValueError:
            continue
        try:
            return datetime.date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
        except ValueError:
            continue
    return None


def _label(name: str) -> str:
    return COLUMNS[name][0]


def statement_parse(data: bytes | IO[bytes], *, file_name: str) -> ParsedStatement:
    """Read and check the whole file. Raises TableError (the file) or StatementFileError (rows)."""
    table = read_table(data, file_name=file_name, max_bytes=MAX_BYTES, max_rows=MAX_ROWS)
    header = match_headers(table.header, COLUMNS, REQUIRED)
    headers = {name: table.header[index] for name, index in header.columns.items()}
    parsed = ParsedStatement()
    errors: list[RowError] = []
    seen: dict[str, int] = {}

    def column(name: str) -> str:
        return headers.get(name, _label(name))

    for number, cells in table.rows():
        if not cells:
            continue
        raw = {name: normalise_cell(header.get(cells, name)) for name in COLUMNS}
        row_errors: list[RowError] = []
        if not raw["amount"] and raw["debit"]:
            parsed.skipped_rows.append(number)  # money going out: not a payment
            continue
        received_on = parse_date(raw["received_on"])
        if received_on is None:
            row_errors.append(
                RowError(
                    number,
                    column("received_on"),
                    raw["received_on"],
                    _("not a date; write it as 2026-01-31."),
                )
            )
        amount: Decimal | None = None
        try:
            amount = parse_amount(raw["amount"], field=column("amount"))
        except ValidationError:
            row_errors.append(
                RowError(
                    number,
                    column("amount"),
                    raw["amount"],
                    _("not an amount; write digits such as 1000 or 99.50."),
                )
            )
        else:
            if amount < 0:
                row_errors.append(
                    RowError(
                        number,
                        column("amount"),
                        raw["amount"],
                        _("a negative amount is money going out, not a payment received."),
                    )
                )
            elif amount == 0:
                row_errors.append(
                    RowError(number, column("amount"), raw["amount"], _("the amount is zero."))
                )
        if not raw["payer_name"]:
            row_errors.append(
                RowError(number, column("payer_name"), "", _("the payer's name is missing."))
            )
        limits = {"payer_name": 200, "payer_account": 64, "bank_reference": 64}
        for name, limit in limits.items():
            if len(raw[name]) > limit:
                row_errors.append(
                    RowError(
                        number,
                        column(name),
                        raw[name][:40] + "…",
                        _("longer than %(limit)s characters.") % {"limit": limit},
                    )
                )
        remittance = " ".join(part for part in (raw["remittance"], raw["summary"]) if part)[:300]
        if row_errors or received_on is None or amount is None:
            errors.extend(row_errors)
            continue
        key = payment_dedupe_key(
            bank_reference=raw["bank_reference"],
            received_on=received_on,
            amount=amount,
            payer_account=raw["payer_account"],
            remittance=remittance,
        )
        if key in seen:
            shown = raw["bank_reference"] or raw["amount"]
            errors.append(
                RowError(
                    number,
                    column("bank_reference") if raw["bank_reference"] else column("amount"),
                    shown,
                    _("the same line as row %(row)s; remove one of them.") % {"row": seen[key]},
                )
            )
            continue
        seen[key] = number
        parsed.lines.append(
            StatementLine(
                row=number,
                received_on=received_on,
                amount=amount,
                payer_name=raw["payer_name"],
                payer_account=raw["payer_account"],
                bank_reference=raw["bank_reference"],
                remittance=remittance,
            )
        )
    if errors:
        raise StatementFileError(errors)
    if not parsed.lines:
        raise StatementFileError(
            [RowError(table.header_row, "", "", _("the file has no incoming payments."))]
        )
    return parsed


def _read_bytes(file: Any) -> bytes:
    if isinstance(file, bytes | bytearray):
        return bytes(file)
    size = getattr(file, "size", None)
    if isinstance(size, int) and size > MAX_BYTES:
        # read_table gives the translated message from the size alone.
        read_table(file, file_name="", max_bytes=MAX_BYTES, max_rows=MAX_ROWS)
    if hasattr(file, "seek"):
        file.seek(0)
    data: bytes = file.read()
    return data


def bank_statement_import(
    *, file: Any, file_name: str, actor: User | None, ip: str | None = None
) -> BankStatementImport:
    """Import a statement file: all of it or, if any row is wrong, nothing (StatementFileError).

    The payments are recorded in one transaction; each new one is then matched in a transaction
    of its own, so that the import never holds one payment's invoices and invoice number while
    it waits for the next payment's rows (billing.locks)."""
    data = _read_bytes(file)
    parsed = statement_parse(data, file_name=file_name)
    statement, new, duplicates = _statement_record(
        parsed=parsed, data=data, file_name=file_name, actor=actor, ip=ip
    )
    matched = 0
    for payment in new:
        try:
            if payment_auto_match(payment=payment):
                matched += 1
        except ValidationError:
            continue  # left in the queue for an operator
    return _statement_finish(
        statement=statement,
        created=len(new),
        duplicates=duplicates,
        matched=matched,
        file_name=file_name,
        actor=actor,
        ip=ip,
    )


@transaction.atomic
def _statement_record(
    *, parsed: ParsedStatement, data: bytes, file_name: str, actor: User | None, ip: str | None
) -> tuple[BankStatementImport, list[Payment], int]:
    statement = BankStatementImport.objects.create(
        file_name=file_name[:200],
        file_sha256=hashlib.sha256(data).hexdigest(),
        row_count=len(parsed.lines),
        created_by=actor if actor is not None and actor.pk else None,
    )
    new: list[Payment] = []
    duplicates = 0
    conflicts: list[RowError] = []
    for line in parsed.lines:
        try:
            payment, created = payment_record(
                bank_reference=line.bank_reference,
                payer_name=line.payer_name,
                payer_account=line.payer_account,
                amount=line.amount,
                received_on=line.received_on,
                remittance=line.remittance,
                actor=actor,
                source=Payment.Source.STATEMENT,
                statement_import=statement,
                ip=ip,
                auto_match=False,
            )
        except ValidationError as exc:
            conflicts.append(
                RowError(line.row, _("bank reference"), line.bank_reference, exc.messages[0])
            )
            continue
        if created:
            new.append(payment)
        else:
            duplicates += 1
    if conflicts:
        raise StatementFileError(conflicts)  # the transaction rolls back: nothing imported
    return statement, new, duplicates


@transaction.atomic
def _statement_finish(
    *,
    statement: BankStatementImport,
    created: int,
    duplicates: int,
    matched: int,
    file_name: str,
    actor: User | None,
    ip: str | None,
) -> BankStatementImport:
    BankStatementImport.objects.filter(pk=statement.pk).update(
        created_count=created, duplicate_count=duplicates, matched_count=matched
    )
    statement.refresh_from_db()
    audit_record(
        action=BillingAction.BANK_STATEMENT_IMPORTED,
        actor=actor,
        obj=statement,
        ip=ip,
        changes={
            "file": file_name,
            "sha256": statement.file_sha256,
            "rows": statement.row_count,
            "new": statement.created_count,
            "already_imported": statement.duplicate_count,
            "matched": statement.matched_count,
        },
    )
    return statement
