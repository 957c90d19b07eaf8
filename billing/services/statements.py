"""Statements of account: monthly (Celery beat, the 1st at 02:00 Asia/Shanghai) and on demand.

A statement covers whole Asia/Shanghai days, ``period_start`` to ``period_end`` inclusive, that
is the instants ``[period_start 00:00, period_end + 1 00:00)`` in Shanghai time.

What it says, all read from the ledger so that the numbers agree with it by construction:

- opening balance: the company's receivable account at the period's first instant (postings of
  entries created before it); closing balance: the same at the instant after the period;
- activity: every posting on that account in the period, in time order, with a running balance.
  Invoices (``invoice_issued``) are "invoiced", credit notes (``credit_note``) "credited", every
  other movement (payments, allocations, their reversals, company credit used) "paid", so that
  opening + invoiced - credited - paid = closing always;
- pro-forma invoices are excluded: they are requests for payment, not receivables, and post
  nothing; when one is paid, the invoice issued for it and its payment appear as activity;
- counts of the period's invoices, credit notes, payments received and allocations;
- aging of the open invoices as of the period end (by days past their due date on that day);
- card activity from the provider the cards app registers (``billing.statement_sections``).

An issued statement is immutable (a database trigger refuses UPDATE and DELETE once issued) and
a re-issue is a new version. The row is claimed first through the unique (company, period,
version) constraint, ``INSERT ... ON CONFLICT DO NOTHING``: two schedulers or a retried task
meet on one row; the build then locks it, and whoever comes second finds it issued.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import tempfile
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import connection, connections, models, transaction
from django.db.models import Count, Max, Q, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import (
    Account,
    Allocation,
    Invoice,
    Payment,
    Posting,
    Statement,
    StatementFile,
)
from billing.money import ZERO, format_cny
from billing.pdf import render_pdf
from billing.selectors import platform_seller
from billing.services.receivables import aging_report
from billing.statement_sections import card_activity_provider
from portal.exports import XLSX_MAX_ROWS, CsvWriter, XlsxWriter
from portal.models import Company, Membership, Role, User, register_audit_actions
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

logger = logging.getLogger(__name__)


class StatementAction(models.TextChoices):
    ISSUED = "billing.statement_issued", gettext_lazy("Issued a statement of account")
    REQUESTED = "billing.statement_requested", gettext_lazy("Requested a statement of account")
    REISSUED = "billing.statement_reissued", gettext_lazy("Re-issued a statement of account")


register_audit_actions(StatementAction)

AGING_BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


def aging_labels() -> dict[str, str]:
    return {
        "current": _("Not yet due"),
        "1_30": _("1-30 days"),
        "31_60": _("31-60 days"),
        "61_90": _("61-90 days"),
        "over_90": _("Over 90 days"),
    }


# --- Periods and numbers -------------------------------------------------------------------------


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def period_bounds(
    period_start: datetime.date, period_end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants ``[start 00:00, end + 1 day 00:00)`` in Asia/Shanghai time."""
    zone = _zone()
    start = datetime.datetime.combine(period_start, datetime.time(), tzinfo=zone)
    end = datetime.datetime.combine(
        period_end + datetime.timedelta(days=1), datetime.time(), tzinfo=zone
    )
    return start, end


def previous_month(month_start: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The whole calendar month before the one ``month_start`` falls in."""
    last = month_start.replace(day=1) - datetime.timedelta(days=1)
    return last.replace(day=1), last


def _is_whole_month(start: datetime.date, end: datetime.date) -> bool:
    return (
        start.day == 1
        and (end + datetime.timedelta(days=1)).day == 1
        and (start.year, start.month) == (end.year, end.month)
    )


def statement_number(
    company: Company, period_start: datetime.date, period_end: datetime.date, version: int
) -> str:
    """``ST-202610-000042-v1`` for a calendar month, ``ST-20261005-20261020-000042-v1``
    for any other range; the middle part is the company's number (unique, unlike a prefix of
    its public id)."""
    short = f"{company.pk:06d}"
    if _is_whole_month(period_start, period_end):
        period = f"{period_start:%Y%m}"
    else:
        period = f"{period_start:%Y%m%d}-{period_end:%Y%m%d}"
    return f"ST-{period}-{short}-v{version}"


def _check_period(period_start: datetime.date, period_end: datetime.date) -> None:
    if period_end < period_start:
        raise ValidationError(
            {
                "period_end": _("The period ends on %(end)s, before it starts (%(start)s).")
                % {"end": period_end, "start": period_start}
            }
        )
    today = timezone.localdate()
    if period_end >= today:
        raise ValidationError(
            {
                "period_end": _(
                    "A statement covers finished days only: %(end)s is not over yet. "
                    "Choose %(yesterday)s or earlier."
                )
                % {"end": period_end, "yesterday": today - datetime.timedelta(days=1)}
            }
        )


# --- Claiming the row ----------------------------------------------------------------------------


def _claim(
    *,
    company: Company,
    period_start: datetime.date,
    period_end: datetime.date,
    version: int,
    trigger: str,
    actor: User | None,
) -> Statement:
    """The statement row of this company, period and version: inserted unless it exists
    (``ON CONFLICT DO NOTHING``: the unique constraint decides, not a look-up first)."""
    Statement.objects.bulk_create(
        [
            Statement(
                company=company,
                number=statement_number(company, period_start, period_end, version),
                period_start=period_start,
                period_end=period_end,
                version=version,
                trigger=trigger,
                requested_by=actor if actor is not None and actor.pk else None,
            )
        ],
        ignore_conflicts=True,
    )
    return Statement.objects.get(
        company=company, period_start=period_start, period_end=period_end, version=version
    )


def _latest(
    company: Company, period_start: datetime.date, period_end: datetime.date
) -> Statement | None:
    return (
        Statement.objects.filter(company=company, period_start=period_start, period_end=period_end)
        .order_by("-version")
        .first()
    )


# --- Entry points --------------------------------------------------------------------------------


def statement_build(
    *,
    company: Company,
    period_start: datetime.date,
    period_end: datetime.date,
    trigger: str,
    actor: User | None = None,
) -> Statement:
    """The company's statement for the period, built and issued unless it already is. Monthly
    and on-demand builds share version 1 (the latest version, once re-issued); a failed or
    half-built one is built again. Returns the statement, issued or failed."""
    _check_period(period_start, period_end)
    if trigger == Statement.Trigger.REISSUE:
        raise ValueError("re-issue with statement_reissue()")
    existing = _latest(company, period_start, period_end)
    statement = existing or _claim(
        company=company,
        period_start=period_start,
        period_end=period_end,
        version=1,
        trigger=trigger,
        actor=actor,
    )
    if statement.status == Statement.Status.ISSUED:
        return statement
    return _build(statement.pk)


def statement_request(
    *,
    company: Company,
    period_start: datetime.date,
    period_end: datetime.date,
    actor: User | None,
) -> Statement:
    """An on-demand request from the portal or the API: the issued statement of that period if
    there is one, else its row (being prepared) with the build queued for a worker."""
    _check_period(period_start, period_end)
    statement = _latest(company, period_start, period_end) or _claim(
        company=company,
        period_start=period_start,
        period_end=period_end,
        version=1,
        trigger=Statement.Trigger.ON_DEMAND,
        actor=actor,
    )
    if statement.status != Statement.Status.ISSUED:
        _queue_build(statement, actor)
        audit_record(
            action=StatementAction.REQUESTED,
            actor=actor,
            company=company,
            obj=statement,
            changes={"period": f"{period_start}..{period_end}", "number": statement.number},
        )
    return statement


def _claim_next_version(statement: Statement, actor: User | None) -> Statement:
    """The row of the next version of ``statement``'s company and period (a re-issue)."""
    version = (
        Statement.objects.filter(
            company=statement.company,
            period_start=statement.period_start,
            period_end=statement.period_end,
        ).aggregate(top=Max("version"))["top"]
        or 0
    ) + 1
    return _claim(
        company=statement.company,
        period_start=statement.period_start,
        period_end=statement.period_end,
        version=version,
        trigger=Statement.Trigger.REISSUE,
        actor=actor,
    )


def statement_reissue(*, statement: Statement, actor: User | None = None) -> Statement:
    """A new version of an issued statement, built now from the ledger as it stands."""
    if statement.status != Statement.Status.ISSUED:
        return _build(statement.pk)
    fresh = _claim_next_version(statement, actor)
    audit_record(
        action=StatementAction.REISSUED,
        actor=actor,
        company=statement.company,
        obj=fresh,
        changes={"previous": statement.number, "number": fresh.number},
    )
    if fresh.status == Statement.Status.ISSUED:
        return fresh
    return _build(fresh.pk)


def statement_queue_reissue(*, statement: Statement, actor: User | None) -> Statement:
    """Claims the next version now and leaves the build to a worker."""
    fresh = _claim_next_version(statement, actor)
    _queue_build(fresh, actor)
    return fresh


def _queue_build(statement: Statement, actor: User | None) -> None:
    from billing.tasks_statements import statement_build as build_task

    outbox_enqueue(build_task, kwargs={"statement_id": statement.pk})


def statement_build_claimed(*, statement_id: int) -> Statement | None:
    """Build a claimed row (the worker's side of ``statement_request`` and re-issues)."""
    statement = Statement.objects.filter(pk=statement_id).first()
    if statement is None or statement.status == Statement.Status.ISSUED:
        return statement
    return _build(statement_id)


def statements_monthly(*, month_start: datetime.date) -> int:
    """Queue the previous month's statement of every active company (one task each); returns
    how many were queued. Run twice, it queues twice, and each company still gets one."""
    from billing.tasks_statements import statement_build as build_task

    period_start, period_end = previous_month(month_start)
    company_ids = list(
        Company.objects.filter(status=Company.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for company_id in company_ids:
        build_task.delay(
            company_id=company_id,
            period_start=period_start.isoformat(),
            period_end=period_end.isoformat(),
            trigger=Statement.Trigger.MONTHLY,
        )
    return len(company_ids)


# --- Building ------------------------------------------------------------------------------------


@dataclass
class _Line:
    at: datetime.datetime
    kind: str
    label: str
    reference: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass
class _Content:
    statement: Statement
    company: Company
    start: datetime.datetime
    end: datetime.datetime
    opening: Decimal
    closing: Decimal
    lines: list[_Line]
    summary: dict[str, Any]


def _line_label(kind: str, amount: Decimal) -> str:
    if kind == "invoice_issued":
        return _("Invoice")
    if kind == "credit_note":
        return _("Credit note")
    return _("Payment") if amount < 0 else _("Reversal")


def _receivable_movements(
    company: Company, start: datetime.datetime, end: datetime.datetime
) -> tuple[Decimal, list[tuple[datetime.datetime, str, str, Decimal]]]:
    """The receivable balance before ``start`` and the postings of ``[start, end)``. Through the
    ORM, so that each backend binds the instants and reads them back in its own way (SQLite
    keeps naive UTC text: raw SQL compared its strings with ``+08:00`` ones and returned naive
    values)."""
    account = Account.objects.filter(kind=Account.Kind.RECEIVABLE, company=company).first()
    if account is None:
        return ZERO, []
    postings = Posting.objects.filter(account=account)
    opening = postings.filter(entry__created_at__lt=start).aggregate(total=Sum("amount"))["total"]
    movements = list(
        postings.filter(entry__created_at__gte=start, entry__created_at__lt=end)
        .order_by("entry__created_at", "entry_id")
        .values_list("entry__created_at", "entry__kind", "entry__reference", "amount")
    )
    return opening or ZERO, movements


def _aging(company: Company, as_of: datetime.date) -> dict[str, str]:
    """Open balances of the company's sale invoices as they stood at the end of ``as_of``, by
    days past due on that day: the receivables aging report, so a statement of an old period
    shows that period's aging, not today's."""
    buckets = aging_report(as_of=as_of, company=company).buckets_for(company)
    result = {name: str(buckets[_AGING_KEYS[name]]) for name in AGING_BUCKETS}
    result["total"] = str(sum((Decimal(result[name]) for name in AGING_BUCKETS), ZERO))
    return result


# Statement bucket names (kept in issued statements' summaries) → the aging report's.
_AGING_KEYS = {
    "current": "current",
    "1_30": "d1_30",
    "31_60": "d31_60",
    "61_90": "d61_90",
    "over_90": "over_90",
}


def _collect(statement: Statement) -> _Content:
    company = statement.company
    start, end = period_bounds(statement.period_start, statement.period_end)
    opening, movements = _receivable_movements(company, start, end)
    balance = opening
    invoiced = credited = paid = ZERO
    lines = []
    for at, kind, reference, amount in movements:
        amount = Decimal(amount)
        balance += amount
        if kind == "invoice_issued":
            invoiced += amount
        elif kind == "credit_note":
            credited -= amount
        else:
            paid -= amount
        lines.append(
            _Line(
                at=timezone.localtime(at, _zone()),
                kind=kind,
                label=_line_label(kind, amount),
                reference=reference,
                debit=amount if amount > 0 else ZERO,
                credit=-amount if amount < 0 else ZERO,
                balance=balance,
            )
        )
    documents = Invoice.objects.filter(
        company=company,
        issue_date__gte=statement.period_start,
        issue_date__lte=statement.period_end,
    ).aggregate(
        invoices=Count("pk", filter=Q(kind=Invoice.Kind.INVOICE)),
        credit_notes=Count("pk", filter=Q(kind=Invoice.Kind.CREDIT_NOTE)),
    )
    payments = Payment.objects.filter(
        company=company,
        received_on__gte=statement.period_start,
        received_on__lte=statement.period_end,
    ).aggregate(count=Count("pk"), total=Sum("amount"))
    allocations = Allocation.objects.filter(
        company=company, created_at__gte=start, created_at__lt=end
    ).aggregate(count=Count("pk"), total=Sum("amount"))
    provider = card_activity_provider()
    cards = provider.summary(company_id=company.pk, start=start, end=end) if provider else {}
    summary = {
        "opening": str(opening),
        "invoiced": str(invoiced),
        "credited": str(credited),
        "paid": str(paid),
        "closing": str(balance),
        "lines": len(lines),
        "invoices": documents["invoices"],
        "credit_notes": documents["credit_notes"],
        "payments": payments["count"],
        "payments_total": str(payments["total"] or ZERO),
        "allocations": allocations["count"],
        "allocations_total": str(allocations["total"] or ZERO),
        "aging": _aging(company, statement.period_end),
        "cards": cards,
    }
    return _Content(statement, company, start, end, opening, balance, lines, summary)


def _summary_rows(content: _Content) -> list[list[Any]]:
    s = content.summary
    labels = aging_labels()
    rows: list[list[Any]] = [
        [_("Statement of account"), content.statement.number],
        [_("Company"), content.company.legal_name],
        [_("Unified social credit code"), content.company.credit_code],
        [_("Period"), content.statement.period_start, content.statement.period_end],
        [_("Opening balance"), Decimal(s["opening"])],
        [_("Invoiced"), Decimal(s["invoiced"])],
        [_("Credited"), Decimal(s["credited"])],
        [_("Paid"), Decimal(s["paid"])],
        [_("Closing balance"), Decimal(s["closing"])],
        [],
        [_("Aging at the period end"), *(labels[name] for name in AGING_BUCKETS), _("Total")],
        [
            "",
            *(Decimal(s["aging"][name]) for name in AGING_BUCKETS),
            Decimal(s["aging"]["total"]),
        ],
    ]
    cards = s.get("cards") or {}
    if cards:
        rows += [
            [],
            [_("Cards issued"), cards["issued_count"], Decimal(cards["issued_value"])],
            [_("Redeemed"), cards["redeemed_count"], Decimal(cards["redeemed_value"])],
            [_("Expired"), "", Decimal(cards["expired_value"])],
            [_("Outstanding at the period end"), "", Decimal(cards["outstanding_value"])],
        ]
    rows += [[], [_("Date"), _("Type"), _("Document"), _("Debit"), _("Credit"), _("Balance")]]
    rows += [
        [
            line.at.replace(tzinfo=None),
            line.label,
            line.reference,
            line.debit,
            line.credit,
            line.balance,
        ]
        for line in content.lines
    ]
    return rows


def _write_csv(content: _Content, path: Path) -> None:
    provider = card_activity_provider()
    with open(path, "wb") as binary:
        writer = CsvWriter(binary)
        for row in _summary_rows(content):
            if row and isinstance(row[0], datetime.datetime):
                row = [f"{row[0]:%Y-%m-%d %H:%M:%S}", *row[1:]]
            writer.writerow(row)
        if provider is not None:
            writer.writerow([])
            writer.writerow(provider.header())
        writer.close()
        if provider is not None:
            provider.write_csv_rows(
                company_id=content.company.pk, start=content.start, end=content.end, out=binary
            )


class _StatementXlsx(XlsxWriter):
    """The portal's streaming writer, with a second titled sheet whose rows PostgreSQL renders."""

    def start_sheet(self, title: str, header: list[str]) -> None:
        self._close_sheet()
        self._title = title
        self._header = header
        self._columns = []
        self._open_sheet()
        self._sheet_names[-1] = title[:31]

    def write_rendered_rows(self, write: Callable[[IO[bytes], int, int], int]) -> int:
        """``write(out, first_row, room)`` appends rendered ``<row>`` XML; returns its count."""
        self._flush()
        assert self._member is not None
        room = XLSX_MAX_ROWS - self._row
        written = write(self._member, self._row + 1, room)
        self._row += written
        return written


def _write_xlsx(content: _Content, path: Path) -> None:
    provider = card_activity_provider()
    with open(path, "wb") as binary:
        writer = _StatementXlsx(binary, _("Statement"), None, widths=(28, 20, 20, 14, 14, 14, 14))
        writer.writerows(_summary_rows(content))
        if provider is not None:
            title = _("Cards")
            writer.start_sheet(title, provider.header())
            done, sheet = 0, 1
            while True:

                def write(out: IO[bytes], first_row: int, room: int, offset: int = done) -> int:
                    return provider.write_xlsx_rows(
                        company_id=content.company.pk,
                        start=content.start,
                        end=content.end,
                        first_row=first_row,
                        max_rows=room,
                        offset=offset,
                        out=out,
                    )

                room = XLSX_MAX_ROWS - 1
                written = writer.write_rendered_rows(write)
                done += written
                if written < room:
                    break
                sheet += 1
                writer.start_sheet(f"{title} {sheet}", provider.header())
        writer.close()


# Columns of the PDF's activity listing, in monospaced cells (a CJK character takes two);
# text columns are left-aligned, amounts right-aligned.
_DETAIL_COLUMNS = ((10, "<"), (16, "<"), (24, "<"), (16, ">"), (16, ">"), (16, ">"))


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int, align: str) -> str:
    while _cells(text) > width:
        text = text[:-1]
    pad = " " * (width - _cells(text))
    return text + pad if align == "<" else pad + text


def _detail_row(values: list[str]) -> str:
    return "  ".join(
        _fit(str(value), width, align)
        for value, (width, align) in zip(values, _DETAIL_COLUMNS, strict=True)
    )


# Lines of the activity listing per preformatted block of the PDF: one block per line costs
# WeasyPrint a box, a style and a layout pass each; one block for hundreds of lines makes it
# break a long text again and again. A few dozen lines per block measured fastest.
_BLOCK_LINES = 25


def _blocks(rows: list[str]) -> list[str]:
    return ["\n".join(rows[i : i + _BLOCK_LINES]) for i in range(0, len(rows), _BLOCK_LINES)]


def _write_pdf(content: _Content, path: Path) -> None:
    s = content.summary
    labels = aging_labels()
    pdf = render_pdf(
        "billing/statement_pdf.html",
        {
            "statement": content.statement,
            "company": content.company,
            "seller": platform_seller(),
            "summary": s,
            "opening": format_cny(content.opening),
            "closing": format_cny(content.closing),
            "invoiced": format_cny(Decimal(s["invoiced"])),
            "credited": format_cny(Decimal(s["credited"])),
            "paid": format_cny(Decimal(s["paid"])),
            "detail_header": _detail_row(
                [_("Date"), _("Type"), _("Document"), _("Debit"), _("Credit"), _("Balance")]
            ),
            "detail_blocks": _blocks(
                [
                    _detail_row(
                        [
                            f"{content.statement.period_start:%Y-%m-%d}",
                            _("Opening balance"),
                            "",
                            "",
                            "",
                            format_cny(content.opening),
                        ]
                    ),
                    *(
                        _detail_row(
                            [
                                f"{line.at:%Y-%m-%d}",
                                line.label,
                                line.reference,
                                format_cny(line.debit) if line.debit else "",
                                format_cny(line.credit) if line.credit else "",
                                format_cny(line.balance),
                            ]
                        )
                        for line in content.lines
                    ),
                    _detail_row(
                        [
                            f"{content.statement.period_end:%Y-%m-%d}",
                            _("Closing balance"),
                            "",
                            "",
                            "",
                            format_cny(content.closing),
                        ]
                    ),
                ]
            ),
            "aging": [
                (labels[name], format_cny(Decimal(s["aging"][name]))) for name in AGING_BUCKETS
            ],
            "aging_total": format_cny(Decimal(s["aging"]["total"])),
            "cards": {
                key: (format_cny(Decimal(value)) if key.endswith("_value") else value)
                for key, value in (s.get("cards") or {}).items()
            },
            "issued_on": timezone.localdate(),
        },
    )
    path.write_bytes(pdf)


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _store(statement: Statement, fmt: str, path: Path, stored: list[str]) -> StatementFile:
    sha, size = _digest(path)
    record = StatementFile(statement=statement, format=fmt, size=size, sha256=sha)
    with open(path, "rb") as handle:
        record.file.save(f"{statement.number}.{fmt}", File(handle), save=False)
    stored.append(str(record.file.name))
    record.save()
    return record


def _write_exports(content: _Content, paths: dict[str, Path]) -> None:
    _write_csv(content, paths[StatementFile.Format.CSV])
    _write_xlsx(content, paths[StatementFile.Format.XLSX])


def _write_files(content: _Content, paths: dict[str, Path], *, overlap: bool) -> None:
    """The three files. With ``overlap``, the CSV and XLSX (PostgreSQL's work: COPY streamed to
    the files) are written by a second thread on a connection of its own while this one renders
    the PDF (Python's work), and both are done when this returns. Only reads happen there, and
    reads of committed rows: the caller must not have uncommitted writes the exports need to
    see (``_build`` overlaps only when its transaction is the outermost one)."""
    if not overlap:
        _write_pdf(content, paths[StatementFile.Format.PDF])
        _write_exports(content, paths)
        return
    language = translation.get_language()
    zone = timezone.get_current_timezone()
    failure: list[BaseException] = []

    def exports() -> None:
        try:
            with translation.override(language), timezone.override(zone):
                _write_exports(content, paths)
        except Exception as exc:  # noqa: BLE001 - re-raised by the building thread
            failure.append(exc)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=exports, name="statement-exports", daemon=True)
    thread.start()
    try:
        _write_pdf(content, paths[StatementFile.Format.PDF])
    finally:
        thread.join()
    if failure:
        raise failure[0]


def _build(statement_id: int) -> Statement:
    stored: list[str] = []
    # Inside a caller's transaction, a second connection would not see its uncommitted rows.
    outer_transaction = connection.in_atomic_block
    try:
        with transaction.atomic():
            statement = (
                Statement.objects.select_for_update(of=("self",))
                .select_related("company")
                .get(pk=statement_id)
            )
            if statement.status == Statement.Status.ISSUED:
                return statement
            # A document sent to the company: in the company's language, whoever asked for it.
            with (
                translation.override(statement.company.language),
                tempfile.TemporaryDirectory(prefix="statement-") as work,
            ):
                content = _collect(statement)
                folder = Path(work)
                paths = {fmt: folder / f"statement.{fmt}" for fmt in StatementFile.Format.values}
                _write_files(content, paths, overlap=not outer_transaction)
                # Stored only once every file is written: a failure stores nothing.
                for fmt in (
                    StatementFile.Format.PDF,
                    StatementFile.Format.CSV,
                    StatementFile.Format.XLSX,
                ):
                    _store(statement, fmt, paths[fmt], stored)
            issued_at = timezone.now()
            # The last write: from here on the trigger refuses any change.
            Statement.objects.filter(pk=statement.pk).update(
                status=Statement.Status.ISSUED,
                issued_at=issued_at,
                opening_balance=content.opening,
                closing_balance=content.closing,
                summary=content.summary,
                failure="",
            )
            statement.refresh_from_db()
            audit_record(
                action=StatementAction.ISSUED,
                company=statement.company,
                obj=statement,
                actor_label="statements",
                changes={
                    "number": statement.number,
                    "opening": content.summary["opening"],
                    "closing": content.summary["closing"],
                },
            )
            transaction.on_commit(lambda: statement_notify(statement_id=statement.pk))
            return statement
    except Exception as exc:
        for name in stored:
            default_storage.delete(name)
        logger.exception("statement %s failed", statement_id)
        reason = f"{type(exc).__name__}: {exc}"[:500]
        Statement.objects.filter(pk=statement_id).exclude(status=Statement.Status.ISSUED).update(
            status=Statement.Status.FAILED, failure=reason
        )
        return Statement.objects.get(pk=statement_id)


# --- Telling the company ------------------------------------------------------------------------


def statement_recipients(company: Company) -> list[str]:
    members = Membership.objects.filter(company=company, user__is_active=True).select_related(
        "user"
    )
    finance = sorted({m.user.email for m in members if m.role == Role.FINANCE})
    return finance or sorted({m.user.email for m in members if m.role == Role.OWNER})


def _bilingual(template: str, context: dict[str, object]) -> tuple[str, str]:
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"billing/statements/{template}.txt", context))
            subjects.append(
                render_to_string(f"billing/statements/{template}_subject.txt", context).strip()
            )
    return " / ".join(subjects), "\n\n----\n\n".join(bodies)


def statement_notify(*, statement_id: int) -> bool:
    """Email the finance members (else the owners) that the statement is issued. Called once,
    after the commit that issued it (a statement is issued once)."""
    statement = (
        Statement.objects.select_related("company")
        .filter(pk=statement_id, status=Statement.Status.ISSUED)
        .first()
    )
    if statement is None:
        return False
    emails = statement_recipients(statement.company)
    if not emails:
        return False
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse("billing:statement_list")
    subject, body = _bilingual(
        "email",
        {
            "statement": statement,
            "link": link,
            "closing": format_cny(statement.closing_balance or ZERO),
        },
    )
    try:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=emails)
    except Exception:
        logger.exception("statement %s: the email to the company failed", statement.number)
        return False
    return True
