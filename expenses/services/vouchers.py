"""Vouchers of a period's accepted claims, in the layouts accounting systems import.

A claim line is booked when it is accepted: matched (and not rejected since), or an exception
finance accepted. Rejected lines and open exceptions never are. The lines of one cost center
make one voucher: one debit line per claim line on its expense account (``mapping``'s most
specific rule), and one credit line on the prepaid card account for their total, so every
voucher balances. A claim line is booked at its claimed amount.

Voucher numbers are given the first time a voucher is exported (``VoucherNumber``, one row per
period and cost center, numbered from 1 in the order first exported) and reused ever after:
exporting a closed period again gives the same file, byte for byte. Two exports at once cannot
give one number twice or one voucher two numbers: the unique constraints decide and the loser
reads the winner's row. An open period can be exported too; its file is named provisional.

``docs/vouchers.md`` describes each layout.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    LineState,
    PeriodStatus,
    ReconciliationPeriod,
    Resolution,
    VoucherNumber,
)
from expenses.services.mapping import Account, AccountResolver, mapping_of
from portal.exports import CsvWriter, XlsxWriter
from portal.models import User
from portal.services.audit import audit_record

ZERO = Decimal("0.00")
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# The voucher type (凭证类别 / 凭证字) every voucher is filed under: 记 (记账凭证), which every
# chart set up in U8 or Kingdee has.
VOUCHER_TYPE = "记"
# Every member of an XLSX gets this time, so that the same vouchers give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class Layout(models.TextChoices):
    U8 = "u8", gettext_lazy("Yonyou U8 (voucher import)")
    KINGDEE = "kingdee", gettext_lazy("Kingdee K/3 and KIS (voucher import)")
    GENERIC = "generic", gettext_lazy("Generic journal (SAP-style)")


@dataclass(frozen=True)
class JournalLine:
    summary: str
    account: Account
    debit: Decimal
    credit: Decimal
    cost_center: str
    employee_id: str = ""
    reference: str = ""


@dataclass
class Voucher:
    key: str  # what VoucherNumber remembers the number by
    cost_center: str
    number: int = 0
    claims: int = 0  # claim lines booked (the attachments)
    lines: list[JournalLine] = field(default_factory=list)

    @property
    def debit_total(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)


@dataclass(frozen=True)
class VoucherFile:
    filename: str
    content_type: str
    data: bytes
    provisional: bool
    vouchers: int
    lines: int
    total: Decimal

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def accepted_lines(period: ReconciliationPeriod) -> QuerySet[ExpenseLine]:
    """The period's claim lines a voucher books: matched and not rejected, or accepted."""
    return (
        ExpenseLine.objects.filter(company_id=period.company_id, period=period)
        .filter(
            Q(resolution=Resolution.ACCEPTED)
            | Q(state=LineState.MATCHED, resolution=Resolution.NONE)
        )
        .order_by("cost_center", "report_number", "line_number", "row_number", "id")
    )


def voucher_key(cost_center: str) -> str:
    """The voucher a claim line goes to: its cost center (case and spaces aside)."""
    return "cc:" + cost_center.strip().casefold()


def period_last_day(period: ReconciliationPeriod) -> datetime.date:
    following = (period.month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following - datetime.timedelta(days=1)


def _claim_summary(line: dict[str, Any]) -> str:
    text: str = line["description"].strip()
    if text:
        return text
    return _("Expense claim %(report)s/%(line)s, %(employee)s") % {
        "report": line["report_number"],
        "line": line["line_number"],
        "employee": line["employee_name"] or line["employee_id"],
    }


def vouchers_build(*, period: ReconciliationPeriod, resolver: AccountResolver) -> list[Voucher]:
    """The period's vouchers, unnumbered, in the order of their cost centers. Texts are in
    the company's language (the file is the same whoever exports it)."""
    vouchers: dict[str, Voucher] = {}
    month = period.month.strftime("%Y-%m")
    columns = (
        "report_number",
        "line_number",
        "employee_id",
        "employee_name",
        "amount",
        "cost_center",
        "category",
        "description",
    )
    with translation.override(period.company.language):
        for line in accepted_lines(period).values(*columns).iterator(chunk_size=2000):
            cost_center = line["cost_center"].strip()
            key = voucher_key(cost_center)
            voucher = vouchers.get(key)
            if voucher is None:
                voucher = vouchers[key] = Voucher(key=key, cost_center=cost_center)
            account = resolver.expense_account(category=line["category"], cost_center=cost_center)
            voucher.claims += 1
            voucher.lines.append(
                JournalLine(
                    summary=_claim_summary(line),
                    account=account,
                    debit=line["amount"],
                    credit=ZERO,
                    cost_center=cost_center,
                    employee_id=line["employee_id"] if resolver.employee_subledger else "",
                    reference=f"{line['report_number']}/{line['line_number']}",
                )
            )
        for voucher in vouchers.values():
            if voucher.cost_center:
                summary = _("Prepaid card spend %(month)s, cost center %(cost_center)s") % {
                    "month": month,
                    "cost_center": voucher.cost_center,
                }
            else:
                summary = _("Prepaid card spend %(month)s") % {"month": month}
            voucher.lines.append(
                JournalLine(
                    summary=summary,
                    account=resolver.prepaid,
                    debit=ZERO,
                    credit=voucher.debit_total,
                    cost_center="",
                )
            )
    return list(vouchers.values())


def voucher_numbers(*, period: ReconciliationPeriod, keys: Iterable[str]) -> dict[str, int]:
    """The number of each voucher key of the period: the one it was given before, or the next
    free one (given now, in the order of ``keys``)."""
    numbers = dict(VoucherNumber.objects.filter(period=period).values_list("key", "number"))
    for key in keys:
        if key in numbers:
            continue
        for _attempt in range(100):
            last = VoucherNumber.objects.filter(period=period).aggregate(n=Max("number"))["n"]
            try:
                with transaction.atomic():
                    VoucherNumber.objects.create(period=period, key=key, number=(last or 0) + 1)
            except IntegrityError:
                # Another export took the number, or numbered this very voucher: read again.
                taken = VoucherNumber.objects.filter(period=period, key=key).first()
                if taken is not None:
                    numbers[key] = taken.number
                    break
                continue
            numbers[key] = (last or 0) + 1
            break
        else:  # pragma: no cover - a hundred exports racing for one period
            raise RuntimeError("could not number a voucher")
    return numbers


# --- Layouts ------------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


Row = list[Any]
RowMaker = Callable[[ReconciliationPeriod, Voucher, int, JournalLine], Row]

U8_HEADER = [
    "凭证类别",
    "凭证号",
    "制单日期",
    "附单据数",
    "摘要",
    "科目编码",
    "借方金额",
    "贷方金额",
    "部门",
    "个人",
]


def _u8_row(period: ReconciliationPeriod, voucher: Voucher, _n: int, line: JournalLine) -> Row:
    return [
        VOUCHER_TYPE,
        str(voucher.number),
        period_last_day(period),
        voucher.claims,
        _cut(line.summary, 60),
        line.account.code,
        line.debit,
        line.credit,
        line.cost_center,
        line.employee_id,
    ]


KINGDEE_HEADER = [
    "日期",
    "会计期间",
    "凭证字",
    "凭证号",
    "附件数",
    "分录序号",
    "摘要",
    "科目代码",
    "科目名称",
    "币别",
    "借方",
    "贷方",
    "核算项目",
    "参考信息",
]


def _kingdee_items(line: JournalLine) -> str:
    items = []
    if line.cost_center:
        items.append(f"部门---{line.cost_center}")
    if line.employee_id:
        items.append(f"职员---{line.employee_id}")
    return ";".join(items)


def _kingdee_row(period: ReconciliationPeriod, voucher: Voucher, n: int, line: JournalLine) -> Row:
    return [
        period_last_day(period),
        period.month.month,
        VOUCHER_TYPE,
        str(voucher.number),
        voucher.claims,
        n,
        _cut(line.summary, 80),
        line.account.code,
        line.account.name,
        "RMB",
        line.debit,
        line.credit,
        _kingdee_items(line),
        line.reference,
    ]


GENERIC_HEADER = [
    "Document date",
    "Posting date",
    "Document number",
    "Line",
    "Account",
    "Account name",
    "Debit",
    "Credit",
    "Currency",
    "Cost center",
    "Employee",
    "Text",
    "Reference",
]


def generic_document_number(period: ReconciliationPeriod, number: int) -> str:
    return f"{period.month:%Y%m}{number:04d}"


def _generic_row(period: ReconciliationPeriod, voucher: Voucher, n: int, line: JournalLine) -> Row:
    last_day = period_last_day(period)
    return [
        last_day,
        last_day,
        generic_document_number(period, voucher.number),
        n,
        line.account.code,
        line.account.name,
        line.debit,
        line.credit,
        "CNY",
        line.cost_center,
        line.employee_id,
        _cut(line.summary, 50),
        line.reference,
    ]


LAYOUTS: dict[str, tuple[list[str], RowMaker, str]] = {
    Layout.U8: (U8_HEADER, _u8_row, "凭证"),
    Layout.KINGDEE: (KINGDEE_HEADER, _kingdee_row, "凭证"),
    Layout.GENERIC: (GENERIC_HEADER, _generic_row, "Journal"),
}


def vouchers_rows(
    *, period: ReconciliationPeriod, vouchers: list[Voucher], layout: str
) -> Iterable[Row]:
    _header, make_row, _title = LAYOUTS[layout]
    for voucher in sorted(vouchers, key=lambda v: v.number):
        for n, line in enumerate(voucher.lines, start=1):
            yield make_row(period, voucher, n, line)


def _fixed_zip(data: bytes) -> bytes:
    """The same workbook with every member's time set to ``_ZIP_TIME``: the same content
    gives the same bytes whenever it is written."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as target,
    ):
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def vouchers_file_bytes(
    *, period: ReconciliationPeriod, vouchers: list[Voucher], layout: str, fmt: str
) -> bytes:
    header, _make_row, title = LAYOUTS[layout]
    rows = vouchers_rows(period=period, vouchers=vouchers, layout=layout)
    buffer = io.BytesIO()
    if fmt == "xlsx":
        xlsx = XlsxWriter(buffer, title, header)
        xlsx.writerows(rows)
        xlsx.close()
        return _fixed_zip(buffer.getvalue())
    writer = CsvWriter(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    writer.close()
    return buffer.getvalue()


def vouchers_filename(period: ReconciliationPeriod, layout: str, fmt: str) -> str:
    provisional = "-provisional" if period.status != PeriodStatus.CLOSED else ""
    return f"vouchers-{period.month:%Y-%m}-{layout}{provisional}.{fmt}"


def _check_choice(value: str, allowed: Iterable[str], field_name: str) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ValidationError(
            {
                field_name: _("Unknown %(field)s “%(value)s”; use one of %(values)s.")
                % {"field": field_name, "value": value[:40], "values": ", ".join(allowed)}
            },
            code="invalid_choice",
        )


def vouchers_export(
    *,
    period: ReconciliationPeriod,
    layout: str,
    fmt: str,
    actor: User,
    ip: str | None = None,
) -> VoucherFile:
    """The period's vouchers as a file of ``layout`` (u8, kingdee, generic) and ``fmt`` (csv,
    xlsx); numbers given to new vouchers, the export audited. ValidationError when the layout
    or format is unknown (code ``invalid_choice``) or the company has no account mapping yet
    (``mapping_missing``)."""
    _check_choice(layout, Layout.values, "layout")
    _check_choice(fmt, FORMATS, "format")
    mapping = mapping_of(period.company)
    if mapping is None or not mapping.prepaid_account:
        raise ValidationError(
            _(
                "Set the voucher account mapping first: the vouchers need the prepaid card "
                "account and the expense accounts."
            ),
            code="mapping_missing",
        )
    resolver = AccountResolver.of(mapping)
    with transaction.atomic():
        vouchers = vouchers_build(period=period, resolver=resolver)
        numbers = voucher_numbers(period=period, keys=[v.key for v in vouchers])
        for voucher in vouchers:
            voucher.number = numbers[voucher.key]
            if voucher.debit_total != voucher.credit_total:  # pragma: no cover - by construction
                raise AssertionError(f"voucher {voucher.number} does not balance")
        data = vouchers_file_bytes(period=period, vouchers=vouchers, layout=layout, fmt=fmt)
        exported = VoucherFile(
            filename=vouchers_filename(period, layout, fmt),
            content_type=CONTENT_TYPES[fmt],
            data=data,
            provisional=period.status != PeriodStatus.CLOSED,
            vouchers=len(vouchers),
            lines=sum(len(v.lines) for v in vouchers),
            total=sum((v.debit_total for v in vouchers), ZERO),
        )
        audit_record(
            action=ExpenseAction.VOUCHERS_EXPORTED,
            actor=actor,
            company=period.company,
            obj=period,
            ip=ip,
            changes={
                "month": period.month.strftime("%Y-%m"),
                "layout": layout,
                "format": fmt,
                "provisional": exported.provisional,
                "vouchers": exported.vouchers,
                "lines": exported.lines,
                "total": str(exported.total),
                "sha256": exported.sha256,
            },
        )
    return exported


@dataclass(frozen=True)
class VoucherPreview:
    cost_center: str
    number: int | None  # given at an earlier export, else None
    claims: int
    total: Decimal


def vouchers_preview(*, period: ReconciliationPeriod) -> list[VoucherPreview]:
    """What an export would hold, per voucher, without numbering anything (for the page)."""
    numbers = dict(VoucherNumber.objects.filter(period=period).values_list("key", "number"))
    totals: dict[str, VoucherPreview] = {}
    for line in accepted_lines(period).values("cost_center", "amount").iterator(chunk_size=2000):
        cost_center = line["cost_center"].strip()
        key = voucher_key(cost_center)
        seen = totals.get(key)
        totals[key] = VoucherPreview(
            cost_center=seen.cost_center if seen else cost_center,
            number=numbers.get(key),
            claims=(seen.claims if seen else 0) + 1,
            total=(seen.total if seen else ZERO) + line["amount"],
        )
    return sorted(totals.values(), key=lambda v: (v.number is None, v.number or 0, v.cost_center))
