"""Expense reconciliation: an expense report of 100,000 claim lines matched against a company's
1,000,000 cards and 1,000,000 card transactions, through the project's path, against a floor
and the plain way.

    python -m bench reconcile [--scale S] [--plain-lines N]

Runs on its own throwaway PostgreSQL database (created, migrated, dropped at the end), Redis key
prefix and media folder. Before the clock: one company whose order has one line per employee
(100,000 employees, 10 cards each, employee id and cost center on the line), its cards loaded
with ``COPY`` (synthetic digests and ciphertexts: matching never reads a code), one redemption on
each card but the last few thousand (over the last 25 days, Asia/Shanghai; a merchant order
reference each), refunds and voids of some of them, all loaded with ``COPY``; an earlier report
of 3,000 lines already matched; and the report's CSV file (the intake's Chinese headers), whose
lines are seeded per kind in known numbers:

==================  ======  ==============================================================
kind                lines   how
==================  ======  ==============================================================
reference           29,000  merchant order reference, the amount and date of the spend
serial              12,000  card serial, amount and date
last 4               8,000  last 4 of one of the employee's cards, amount and date
employee            12,000  employee id, amount and date only
split (many→one)     6,000  two lines sharing one redemption (reference), half each
split (one→many)     3,000  one line, two redemptions of the employee on one day
amount differs       5,000  reference of a redemption partly refunded (5.00), the gross claimed
other employee       4,000  serial of a card given to another employee
duplicate            6,000  3,000 references claimed twice in the report (6,000 lines)
duplicate            3,000  references claimed in the earlier report
duplicate (fapiao)   2,000  a fapiao number of the earlier report, other spend
duplicate (fapiao)   4,000  2,000 fapiao numbers used twice in the report (4,000 lines)
unknown              3,000  serials, references and last 4 the company does not have
no spend             3,000  2,000 amounts nobody spent; 1,000 references of voided spend
==================  ======  ==============================================================

which must end as 75,000 matched, 5,000 amount differs (by 25,000.00 in all), 4,000 other
employee, 10,000 duplicate, 3,000 unknown, 3,000 no spend: the bench checks these counts.

Timed, the project: when the intake (``expenses.services.intake``: ``expense_report_receive``,
then ``expense_report_check`` and ``report_match`` in a Celery worker) is there, from the upload
of the file to the report MATCHED, polling its status as the page does, the worker's memory
sampled; without it, in a process of its own standing for the worker (its peak memory is the
worker's), the file read with the ``csv`` module, its lines written with ``COPY`` and
``report_match`` called. The floor: the same file read by PostgreSQL's ``COPY ... (FORMAT csv)``
over plain psycopg into a temporary table, and the same matching as set-based SQL joins, one
round of each stage, into temporary tables. The plain way: a per-line ORM loop (look the spend
up by reference, serial, last 4 or employee; net each redemption of its refunds and claims; write
the match and the line) over the first 2,000 lines of the file, scaled per line to the report.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import Environment, start_worker, throwaway_environment

CARDS_PER_EMPLOYEE = 10
EMPLOYEES = 100_000  # x 10 cards = 1,000,000 cards, one redemption each (less refunds, voids)
WINDOW_DAYS = 25  # the spend is spread over the days before today
PLAIN_LINES = 2_000
FIRST_SERIAL = 1_000_000_000_000
UNKNOWN_SERIAL = 9_900_000_000_000_000
COST_CENTERS = (
    "人力资源部",
    "销售部",
    "研发中心",
    "财务部",
    "市场部",
    "行政部",
    "采购部",
    "客服中心",
)
REFUND = Decimal("5.00")
HEADER = [
    "报销单号",
    "行号",
    "工号",
    "姓名",
    "费用日期",
    "金额",
    "商户",
    "商户订单号",
    "卡号",
    "尾号",
    "成本中心",
    "费用类别",
    "发票号码",
    "说明",
]
# Lines per kind at scale 1 (each kind's employees are its own).
KINDS = {
    "reference": 29_000,
    "serial": 12_000,
    "last4": 8_000,
    "employee": 12_000,
    "split_many": 3_000,  # redemptions (2 lines each)
    "split_one": 3_000,
    "amount_differs": 5_000,
    "other_employee": 4_000,
    "duplicate_pairs": 3_000,  # pairs
    "duplicate_earlier": 3_000,
    "fapiao_earlier": 2_000,
    "fapiao_pairs": 2_000,  # pairs
    "unknown": 3_000,
    "no_spend_amount": 2_000,
    "no_spend_voided": 1_000,
}
TARGETS = {"vs_floor": 3, "speedup_vs_plain": 50, "peak_rss_mb": 300}


def _settings(env: Environment) -> dict[str, str]:
    return {
        "MEDIA_ROOT": str(env.work_dir / "media"),
        # Every report takes the large reports' path (the worker), whatever --scale.
        "EXPENSE_REPORT_INLINE_MAX_BYTES": "0",
        "UPLOAD_INLINE_MAX_BYTES": "0",
    }


def _intake_available() -> bool:
    if importlib.util.find_spec("expenses.services.intake") is None:
        return False
    intake = importlib.import_module("expenses.services.intake")
    return hasattr(intake, "expense_report_receive") and hasattr(intake, "expense_report_check")


# --- The data: every figure is a function of the card's index -------------------------------------


def _h(j: int, salt: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{salt}:{j}".encode(), digest_size=8).digest())


@dataclass
class Plan:
    """Which employees each kind of line uses, and the spend on each card."""

    scale: float
    today: datetime.date
    counts: dict[str, int]
    employees: int
    first: dict[str, int]  # kind -> its first employee
    tx_cards: int  # cards 0 .. tx_cards-1 have a redemption
    refunds: list[int]  # cards whose redemption got a refund of REFUND
    voids: list[int]  # cards whose redemption was voided

    @property
    def cards(self) -> int:
        return self.employees * CARDS_PER_EMPLOYEE

    def kind_of(self, employee: int) -> str:
        for kind, start in self.first.items():
            if start <= employee < start + self.counts[kind]:
                return kind
        return "background"

    def amount(self, card: int) -> Decimal:
        """Multiples of 0.10 from 10.00 to 799.90: no sum of them ends in 0.05."""
        return Decimal(100 + _h(card, 1) % 7900) / 10

    def day(self, card: int) -> datetime.date:
        employee, nth = divmod(card, CARDS_PER_EMPLOYEE)
        if self.kind_of(employee) == "split_one":
            if nth < 2:  # the two redemptions of one day
                return self.today - datetime.timedelta(days=1 + _h(employee, 2) % WINDOW_DAYS)
            return self.today - datetime.timedelta(days=200 + nth)  # far from the claim
        return self.today - datetime.timedelta(days=1 + _h(card, 2) % WINDOW_DAYS)

    def at(self, card: int) -> datetime.datetime:
        """The redemption's instant: its day in Asia/Shanghai (UTC+8), some second of it."""
        start = datetime.datetime.combine(self.day(card), datetime.time(), tzinfo=datetime.UTC)
        return start - datetime.timedelta(hours=8) + datetime.timedelta(seconds=_h(card, 3) % 86000)

    @staticmethod
    def reference(card: int) -> str:
        return f"M{card:09d}"

    @staticmethod
    def serial(card: int) -> int:
        return FIRST_SERIAL + card

    def last4(self, card: int) -> str:
        return f"{self.serial(card) % 10000:04d}"

    @staticmethod
    def employee_id(employee: int) -> str:
        return f"E{employee:07d}"


def _plan(scale: float, today: datetime.date) -> Plan:
    counts = {kind: max(1, round(n * scale)) for kind, n in KINDS.items()}
    first: dict[str, int] = {}
    used = 0
    for kind, n in counts.items():
        first[kind] = used
        used += n
    employees = max(round(EMPLOYEES * scale), used + 2 * CARDS_PER_EMPLOYEE)
    spare = counts["amount_differs"] + counts["no_spend_voided"]
    # Refunds and voids are card transactions too: that many cards at the end have none.
    tx_cards = employees * CARDS_PER_EMPLOYEE - spare
    refunds = [
        (first["amount_differs"] + i) * CARDS_PER_EMPLOYEE for i in range(counts["amount_differs"])
    ]
    voids = [
        (first["no_spend_voided"] + i) * CARDS_PER_EMPLOYEE
        for i in range(counts["no_spend_voided"])
    ]
    return Plan(scale, today, counts, employees, first, tx_cards, refunds, voids)


def _expected(plan: Plan) -> dict[str, int]:
    c = plan.counts
    return {
        "matched": c["reference"]
        + c["serial"]
        + c["last4"]
        + c["employee"]
        + 2 * c["split_many"]
        + c["split_one"]
        + c["duplicate_pairs"]
        + c["fapiao_pairs"],
        "amount_differs": c["amount_differs"],
        "other_employee": c["other_employee"],
        "duplicate": c["duplicate_pairs"]
        + c["duplicate_earlier"]
        + c["fapiao_earlier"]
        + c["fapiao_pairs"],
        "unknown": c["unknown"],
        "no_spend": c["no_spend_amount"] + c["no_spend_voided"],
    }


Line = dict[str, str]


def _line(plan: Plan, employee: int, card: int | None, **fields: str) -> Line:
    line = {
        "employee_id": plan.employee_id(employee),
        "employee_name": f"员工{employee}",
        "expense_date": (plan.day(card) if card is not None else plan.today).isoformat(),
        "amount": str(plan.amount(card)) if card is not None else "1.00",
        "merchant_name": "基准超市",
        "merchant_reference": "",
        "card_serial": "",
        "card_last4": "",
        "cost_center": COST_CENTERS[employee % len(COST_CENTERS)],
        "category": "差旅",
        "fapiao_number": "",
        "description": "bench",
    }
    line.update(fields)
    return line


def _earlier_lines(plan: Plan) -> Iterator[Line]:
    """The earlier report: the references that the new report claims again, each with a fapiao
    number (some of which the new report repeats on other spend)."""
    for i in range(plan.counts["duplicate_earlier"]):
        e = plan.first["duplicate_earlier"] + i
        card = e * CARDS_PER_EMPLOYEE
        yield _line(
            plan, e, card, merchant_reference=plan.reference(card), fapiao_number=f"{10**9 + e}"
        )


def _report_lines(plan: Plan) -> Iterator[Line]:
    """The report's lines, kind by kind (then shuffled by employee, pairs kept in order)."""
    k = CARDS_PER_EMPLOYEE

    def employees(kind: str) -> range:
        return range(plan.first[kind], plan.first[kind] + plan.counts[kind])

    for e in employees("reference"):
        yield _line(plan, e, e * k, merchant_reference=plan.reference(e * k))
    for e in employees("serial"):
        card = e * k + 1
        yield _line(plan, e, card, card_serial=f"{plan.serial(card):016d}")
    for e in employees("last4"):
        card = e * k + 2
        yield _line(plan, e, card, card_last4=plan.last4(card))
    for e in employees("employee"):
        yield _line(plan, e, e * k + 3)
    for e in employees("split_many"):
        card = e * k + 4
        whole = plan.amount(card)
        half = (whole / 2).quantize(Decimal("0.01"))
        for part in (half, whole - half):
            yield _line(plan, e, card, merchant_reference=plan.reference(card), amount=str(part))
    for e in employees("split_one"):
        total = plan.amount(e * k) + plan.amount(e * k + 1)
        yield _line(plan, e, e * k, amount=str(total))
    for e in employees("amount_differs"):  # refunded by REFUND: the gross amount claimed
        yield _line(plan, e, e * k, merchant_reference=plan.reference(e * k))
    for e in employees("other_employee"):
        theirs = (plan.employees - 1 - (e % 100)) * k + 9  # a background employee's card
        yield _line(plan, e, e * k, card_serial=f"{plan.serial(theirs):016d}")
    for e in employees("duplicate_pairs"):
        for _ in range(2):
            yield _line(plan, e, e * k, merchant_reference=plan.reference(e * k))
    for e in employees("duplicate_earlier"):
        yield _line(plan, e, e * k, merchant_reference=plan.reference(e * k))
    for i, e in enumerate(employees("fapiao_earlier")):
        earlier = plan.first["duplicate_earlier"] + i % plan.counts["duplicate_earlier"]
        yield _line(
            plan,
            e,
            e * k,
            merchant_reference=plan.reference(e * k),
            fapiao_number=f"{10**9 + earlier}",
        )
    for e in employees("fapiao_pairs"):
        for nth in range(2):
            card = e * k + nth
            yield _line(
                plan,
                e,
                card,
                merchant_reference=plan.reference(card),
                fapiao_number=f"{2 * 10**9 + e}",
            )
    for i, e in enumerate(employees("unknown")):
        card = e * k
        if i % 3 == 0:
            yield _line(plan, e, card, card_serial=f"{UNKNOWN_SERIAL + e:016d}")
        elif i % 3 == 1:
            yield _line(plan, e, card, merchant_reference=f"NOSUCH{e:09d}")
        else:  # the employee's cards end in 10 consecutive numbers: 5,000 on is none of them
            last4 = f"{(int(plan.last4(card)) + 5000) % 10000:04d}"
            yield _line(plan, e, card, card_last4=last4)
    for e in employees("no_spend_amount"):
        yield _line(plan, e, e * k, amount=str(plan.amount(e * k) + Decimal("0.05")))
    for e in employees("no_spend_voided"):
        yield _line(plan, e, e * k, merchant_reference=plan.reference(e * k))


def _write_csv(path: Path, lines: Iterator[Line], report_number: str) -> int:
    keyed = sorted(
        ((_h(int(line["employee_id"][1:]), 9), n, line) for n, line in enumerate(lines)),
        key=lambda t: (t[0], t[1]),
    )
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        for n, (_key, _seq, line) in enumerate(keyed, start=1):
            writer.writerow(
                [
                    f"{report_number}-{n // 20:05d}",
                    str(n % 20 + 1),
                    line["employee_id"],
                    line["employee_name"],
                    line["expense_date"],
                    line["amount"],
                    line["merchant_name"],
                    line["merchant_reference"],
                    line["card_serial"],
                    line["card_last4"],
                    line["cost_center"],
                    line["category"],
                    line["fapiao_number"],
                    line["description"],
                ]
            )
    return len(keyed)


# --- Loading with COPY ----------------------------------------------------------------------------


@dataclass
class Setup:
    company_id: int
    finance_id: int
    first_card_id: int
    first_tx_id: int


def _copy(cursor: Any, table: str, columns: list[str], rows: Iterator[str]) -> int:
    """Text ``COPY`` of ready-made tab-separated rows, 20,000 per write."""
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        block: list[str] = []
        for row in rows:
            block.append(row)
            n += 1
            if len(block) >= 20_000:
                copy.write("".join(block))
                block.clear()
        copy.write("".join(block))
    return n


def _next_id(cursor: Any, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
    return int(cursor.fetchone()[0])


def _set_sequence(cursor: Any, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
    )


def _load(plan: Plan) -> tuple[Setup, dict[str, float]]:
    """The company, its order of one line per employee, batches, cards, redemptions, refunds and
    voids (``COPY``), a merchant, and the finance member who uploads."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.issuance import _prepare_buyer, _prepare_order
    from cards.models import Merchant
    from portal.models import Membership, Role, User

    timings: dict[str, float] = {}
    buyer = _prepare_buyer()
    order_id = _prepare_order(buyer, CARDS_PER_EMPLOYEE)
    finance = User.objects.create_user(email="finance@bench.example")
    Membership.objects.create(user=finance, company=buyer.company, role=Role.FINANCE)
    merchant = Merchant.objects.create(
        name="基准超市",
        settlement_account_name="基准超市有限公司",
        settlement_bank="中国银行上海分行",
        settlement_account_number="6216 6100 0000 0001",
    )
    now = timezone.now().isoformat()
    expires = (timezone.now() + datetime.timedelta(days=1000)).isoformat()
    k = CARDS_PER_EMPLOYEE
    face = "1000.00"
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        started = time.perf_counter()
        line0 = _next_id(cursor, "cards_orderline")
        _copy(
            cursor,
            "cards_orderline",
            ["id", "order_id", "position", "product_id", "face_value", "quantity", "unit_price",
             "amount", "recipient_name", "recipient_mobile", "recipient_email", "employee_id",
             "cost_center", "note"],
            (
                f"{line0 + e}\t{order_id}\t{e + 100}\t{buyer.product.pk}\t{face}\t{k}\t{face}\t"
                f"{int(face[:-3]) * k}.00\t员工{e}\t\t\t{plan.employee_id(e)}\t"
                f"{COST_CENTERS[e % len(COST_CENTERS)]}\t\n"
                for e in range(plan.employees)
            ),
        )  # fmt: skip
        batch0 = _next_id(cursor, "cards_batch")
        _copy(
            cursor,
            "cards_batch",
            ["id", "public_id", "order_id", "line_id", "company_id", "product_id", "face_value",
             "quantity", "first_serial", "chunk_size", "chunk_count", "expires_at", "status",
             "generated", "failure_reason", "created_at"],
            (
                f"{batch0 + e}\t{uuid.uuid4()}\t{order_id}\t{line0 + e}\t{buyer.company.pk}\t"
                f"{buyer.product.pk}\t{face}\t{k}\t{plan.serial(e * k)}\t{k}\t1\t{expires}\t"
                f"ready\t{k}\t\t{now}\n"
                for e in range(plan.employees)
            ),
        )  # fmt: skip
        timings["order_lines_batches_s"] = time.perf_counter() - started
        started = time.perf_counter()
        card0 = _next_id(cursor, "cards_card")
        _copy(
            cursor,
            "cards_card",
            ["id", "serial", "batch_id", "digest", "key_id", "ciphertext", "last4", "face_value",
             "balance", "status", "expires_at", "created_at"],
            (
                f"{card0 + c}\t{plan.serial(c)}\t{batch0 + c // k}\t\\\\x{plan.serial(c):016x}\t"
                f"bench\t\\\\x00\t{plan.last4(c)}\t{face}\t{face}\tactive\t{expires}\t{now}\n"
                for c in range(plan.cards)
            ),
        )  # fmt: skip
        timings["cards_s"] = time.perf_counter() - started
        started = time.perf_counter()
        tx0 = _next_id(cursor, "cards_cardtransaction")
        columns = ["id", "public_id", "card_id", "merchant_id", "original_id", "request_digest",
                   "reason", "kind", "amount", "balance_after", "merchant_reference",
                   "created_at"]  # fmt: skip

        def redemptions() -> Iterator[str]:
            for c in range(plan.tx_cards):
                amount = plan.amount(c)
                yield (
                    f"{tx0 + c}\t{uuid.uuid4()}\t{card0 + c}\t{merchant.pk}\t\\N\t\t\tredeem\t"
                    f"-{amount}\t{Decimal(face) - amount}\t{plan.reference(c)}\t"
                    f"{plan.at(c).isoformat()}\n"
                )

        _copy(cursor, "cards_cardtransaction", columns, redemptions())

        def returns() -> Iterator[str]:
            n = plan.tx_cards
            for c in plan.refunds:
                later = (plan.at(c) + datetime.timedelta(minutes=5)).isoformat()
                yield (
                    f"{tx0 + n}\t{uuid.uuid4()}\t{card0 + c}\t{merchant.pk}\t{tx0 + c}\t\t\t"
                    f"refund\t{REFUND}\t{Decimal(face) - plan.amount(c) + REFUND}\t"
                    f"{plan.reference(c)}\t{later}\n"
                )
                n += 1
            for c in plan.voids:
                yield (
                    f"{tx0 + n}\t{uuid.uuid4()}\t{card0 + c}\t{merchant.pk}\t{tx0 + c}\t\t\t"
                    f"redeem_void\t{plan.amount(c)}\t{face}\t{plan.reference(c)}\t"
                    f"{(plan.at(c) + datetime.timedelta(minutes=5)).isoformat()}\n"
                )
                n += 1

        _copy(cursor, "cards_cardtransaction", columns, returns())
        timings["transactions_s"] = time.perf_counter() - started
        for table in ("cards_orderline", "cards_batch", "cards_card", "cards_cardtransaction"):
            _set_sequence(cursor, table)
    with connection.cursor() as cursor:
        for table in ("cards_orderline", "cards_batch", "cards_card", "cards_cardtransaction"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return Setup(buyer.company.pk, finance.pk, card0, tx0), timings


def _periods(company_id: int, lines_path: Path) -> dict[str, int]:
    """The periods of the months the file's lines fall in, month (YYYY-MM) -> id."""
    from expenses.models import ReconciliationPeriod

    months = set()
    with open(lines_path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            months.add(row[4][:7])
    found = {}
    for month in sorted(months):
        period, _created = ReconciliationPeriod.objects.get_or_create(
            company_id=company_id, month=datetime.date.fromisoformat(month + "-01")
        )
        found[month] = period.pk
    return found


def _copy_lines(report: Any, lines_path: Path) -> int:
    """The file's lines read with the csv module and written with ``COPY`` (the stand-in for the
    intake's check when it is not there)."""
    from django.db import connection

    periods = _periods(report.company_id, lines_path)
    columns = ["public_id", "report_id", "company_id", "period_id", "row_number", "report_number",
               "line_number", "employee_id", "employee_name", "expense_date", "amount",
               "merchant_name", "merchant_reference", "card_serial", "card_last4", "cost_center",
               "category", "fapiao_number", "description", "state", "evidence", "matched_amount",
               "difference", "resolution", "resolution_note"]  # fmt: skip

    def rows() -> Iterator[str]:
        with open(lines_path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for row_number, row in enumerate(reader, start=2):
                (
                    number,
                    line,
                    emp,
                    name,
                    day,
                    amount,
                    merchant,
                    ref,
                    serial,
                    last4,
                    cc,
                    cat,
                    fp,
                    desc,
                ) = row
                yield (
                    f"{uuid.uuid4()}\t{report.pk}\t{report.company_id}\t{periods[day[:7]]}\t"
                    f"{row_number}\t{number}\t{line}\t{emp}\t{name}\t{day}\t{amount}\t{merchant}\t"
                    f"{ref}\t{serial}\t{last4}\t{cc}\t{cat}\t{fp}\t{desc}\tpending\t\t0\t0\t\t\n"
                )  # fmt: skip

    with connection.cursor() as cursor:
        return _copy(cursor.cursor, "expenses_expenseline", columns, rows())


def _new_report(setup: Setup, name: str, rows: int) -> Any:
    from expenses.models import ExpenseReport, ReportStatus

    return ExpenseReport.objects.create(
        company_id=setup.company_id,
        created_by_id=setup.finance_id,
        status=ReportStatus.CHECKING,
        rows_total=rows,
        file_name=name,
        file_format="csv",
    )


# --- The project --------------------------------------------------------------------------------


@dataclass
class ProjectRun:
    mode: str  # "intake" or "copy"
    receive_s: float
    check_s: float  # with the intake: check and match in the worker; else: read + COPY
    match_s: float
    seconds: float
    peak_rss_mb: float
    progress_seen: int
    report_id: int


def _match_child(report_id: int, path: str) -> int:
    """In a process of its own (the worker's stand-in): the lines read and written with COPY,
    then ``report_match``; prints the timings and the process's peak memory."""
    import django

    django.setup()
    from django.db import transaction

    from bench.issuance import _status_kb
    from expenses.models import ExpenseReport, ReportStatus
    from expenses.services.matching import report_match

    report = ExpenseReport.objects.get(pk=report_id)
    started = time.perf_counter()
    with transaction.atomic():
        written = _copy_lines(report, Path(path))
        ExpenseReport.objects.filter(pk=report_id).update(
            status=ReportStatus.MATCHING, rows_total=written, rows_done=0
        )
    written_at = time.perf_counter()

    def progress(done: int, total: int) -> None:
        ExpenseReport.objects.filter(pk=report_id).update(rows_done=done, rows_total=total)

    slowest: list[tuple[float, str]] = []
    if os.environ.get("BENCH_RECONCILE_PROFILE"):
        from expenses.services import matching

        statement = matching._Run._sql

        def timed(run: Any, sql: str, **extra: Any) -> int:
            began = time.perf_counter()
            result = statement(run, sql, **extra)
            slowest.append((time.perf_counter() - began, " ".join(sql.split())[:110]))
            return result

        matching._Run._sql = timed  # type: ignore[method-assign,assignment]
    report_match(report_id=report_id, progress=progress)
    for seconds, sql in sorted(slowest, reverse=True)[:25]:
        print(f"{seconds:6.2f} s  {sql}", file=sys.stderr)
    if slowest:
        print(f"{sum(t for t, _ in slowest):6.2f} s in {len(slowest)} statements", file=sys.stderr)
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "check_s": written_at - started,
                "match_s": finished - written_at,
                "peak_rss_mb": _status_kb(os.getpid(), "VmHWM") / 1024,
            }
        )
    )
    return 0


def _poll(report_id: int, rows: int, deadline_s: float) -> tuple[float, int]:
    from expenses.models import ExpenseReport, ReportStatus

    waiting = (ReportStatus.RECEIVED, ReportStatus.CHECKING, ReportStatus.MATCHING)
    seen = 0
    last = -1
    started = time.perf_counter()
    while True:
        status, done = (
            ExpenseReport.objects.filter(pk=report_id).values_list("status", "rows_done").get()
        )
        if status not in waiting:
            return time.perf_counter() - started, seen
        if done != last and 0 < done < rows:
            seen += 1
            last = done
        if time.perf_counter() - started > deadline_s:
            raise RuntimeError("the report was not matched in time")
        time.sleep(0.05)


def _run_project_intake(setup: Setup, path: Path, rows: int, env: Environment) -> ProjectRun:
    from django.core.files.uploadedfile import UploadedFile

    from bench.issuance import MemorySampler
    from expenses.models import ExpenseReport, ReportStatus
    from expenses.services.intake import expense_report_receive
    from portal.models import Company, User

    company = Company.objects.get(pk=setup.company_id)
    finance = User.objects.get(pk=setup.finance_id)
    worker = start_worker(1, env.work_dir, queues="default")
    try:
        with MemorySampler(worker.proc.pid) as sampler:
            started = time.perf_counter()
            with open(path, "rb") as handle:
                report = expense_report_receive(
                    company=company,
                    user=finance,
                    upload=UploadedFile(handle, name=path.name, size=path.stat().st_size),
                )
            received = time.perf_counter()
            waited, seen = _poll(report.pk, rows, 1800)
            finished = time.perf_counter()
    finally:
        worker.stop()
    report = ExpenseReport.objects.get(pk=report.pk)
    if report.status != ReportStatus.MATCHED:
        raise RuntimeError(f"the report ended {report.status}: {report.failure} {report.result}")
    checked = report.checked_at
    matched = report.matched_at
    match_s = (matched - checked).total_seconds() if checked and matched else 0.0
    return ProjectRun(
        mode="intake",
        receive_s=received - started,
        check_s=waited - match_s,
        match_s=match_s,
        seconds=finished - started,
        peak_rss_mb=max(sampler.peak_kb.values()) / 1024,
        progress_seen=seen,
        report_id=report.pk,
    )


def _run_project_copy(setup: Setup, path: Path, rows: int) -> ProjectRun:
    import threading

    from django.db import connections

    started = time.perf_counter()
    report = _new_report(setup, path.name, rows)
    received = time.perf_counter()
    connections.close_all()
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        from django.db import connection

        last = -1
        while not stop.is_set():
            from expenses.models import ExpenseReport

            done = ExpenseReport.objects.filter(pk=report.pk).values_list("rows_done").get()[0]
            if done != last and 0 < done < rows:
                seen.append(done)
                last = done
            time.sleep(0.05)
        connection.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "reconcile", "--match-child", str(report.pk),
             str(path)],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
    finally:
        stop.set()
        watcher.join(timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"the matching process failed:\n{done.stderr[-3000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    if os.environ.get("BENCH_RECONCILE_PROFILE"):
        print("slowest statements of report_match:\n" + done.stderr, flush=True)
    return ProjectRun(
        mode="copy",
        receive_s=received - started,
        check_s=child["check_s"],
        match_s=child["match_s"],
        # A worker is running already: its process start is not the report's time.
        seconds=received - started + child["check_s"] + child["match_s"],
        peak_rss_mb=child["peak_rss_mb"],
        progress_seen=len(seen),
        report_id=report.pk,
    )


def _verify(plan: Plan, report_id: int) -> tuple[dict[str, int], list[str]]:
    from django.db.models import F, Min, Sum

    from expenses.models import ExpenseLine, ExpenseMatch, ExpenseReport, LineState

    report = ExpenseReport.objects.get(pk=report_id)
    states: dict[str, int] = report.result.get("states", {})
    expected = _expected(plan)
    problems = []
    if states != expected:
        problems.append(f"states {states}, expected {expected}")
    lines = ExpenseLine.objects.filter(report_id=report_id)
    differs = lines.filter(state=LineState.AMOUNT_DIFFERS).aggregate(s=Sum("difference"))["s"]
    if differs != REFUND * plan.counts["amount_differs"]:
        problems.append(f"the amounts differ by {differs} in all, not {REFUND} per line")
    # No redemption is claimed beyond its amount, and every match is the company's spend.
    over = (
        ExpenseMatch.objects.filter(line__company_id=report.company_id)
        .values("transaction")
        .annotate(total=Sum("amount"), spent=Min("transaction__amount"))
        .filter(total__gt=F("spent") * -1)
        .count()
    )
    if over:
        problems.append(f"{over} redemptions are claimed beyond their amount")
    if lines.filter(state=LineState.DUPLICATE, duplicate_of__isnull=True).exists():
        problems.append("duplicates without the claim they repeat")
    return states, problems


# --- The floor ------------------------------------------------------------------------------------

FLOOR_SQL = """
CREATE TEMP TABLE f_raw (report_number text, line_number text, employee_id text, name text,
    expense_date date, amount numeric, merchant text, ref text, serial text, last4 text,
    cost_center text, category text, fapiao text, description text);
"""
FLOOR_MATCH = [
    """CREATE TEMP TABLE f_lines AS SELECT row_number() OVER () AS id, employee_id AS emp,
        expense_date - DATE '1970-01-01' AS day, (amount * 100)::bigint AS fen, ref,
        CASE WHEN serial ~ '^[0-9]{1,18}$' THEN serial::bigint END AS serial, last4, fapiao,
        CASE WHEN ref <> '' THEN 'r' WHEN serial <> '' THEN 's' WHEN last4 <> '' THEN 'l'
             ELSE 'e' END AS ev
     FROM f_raw""",
    """CREATE TEMP TABLE f_cards AS SELECT c.id, c.serial, c.last4, ol.employee_id AS emp
     FROM cards_card c JOIN cards_batch b ON b.id = c.batch_id
     JOIN cards_orderline ol ON ol.id = b.line_id
     WHERE b.company_id = %(company)s AND (c.serial IN (SELECT serial FROM f_lines)
        OR ol.employee_id IN (SELECT emp FROM f_lines))""",
    """CREATE TEMP TABLE f_spend AS SELECT t.id, t.card_id, x.serial, x.last4, x.emp,
        ((t.created_at AT TIME ZONE 'Asia/Shanghai')::date - DATE '1970-01-01') AS day,
        t.merchant_reference AS ref, (-t.amount * 100)::bigint AS net,
        (-t.amount * 100)::bigint AS avail
     FROM cards_cardtransaction t JOIN f_cards x ON x.id = t.card_id
     WHERE t.kind = 'redeem'""",
    """UPDATE f_spend s SET net = r.net, avail = r.net FROM (
        SELECT f.id, CASE WHEN bool_or(t.kind = 'redeem_void') THEN 0 ELSE max(f.net)
            - coalesce((sum(t.amount) FILTER (WHERE t.kind = 'refund') * 100)::bigint, 0) END
            AS net
        FROM cards_cardtransaction t JOIN f_spend f ON f.id = t.original_id
        WHERE t.kind IN ('refund', 'redeem_void') GROUP BY f.id) r WHERE r.id = s.id""",
    """UPDATE f_spend s SET avail = s.avail - c.fen FROM (
        SELECT m.transaction_id, (SUM(m.amount) * 100)::bigint AS fen
        FROM expenses_expensematch m JOIN expenses_expenseline l ON l.id = m.line_id
        WHERE l.company_id = %(company)s
        GROUP BY m.transaction_id) c WHERE c.transaction_id = s.id""",
    "CREATE UNIQUE INDEX ON f_spend (id)",
    "ANALYZE f_spend",
    """CREATE TEMP TABLE f_result AS SELECT DISTINCT ON (x.id) x.id, 'duplicate'::text AS state
     FROM f_lines x JOIN expenses_expenseline o ON o.company_id = %(company)s
        AND o.fapiao_number = x.fapiao WHERE x.fapiao <> ''""",
    """INSERT INTO f_result SELECT y.id, 'duplicate' FROM (SELECT id, row_number() OVER (
        PARTITION BY fapiao ORDER BY id) AS n FROM f_lines WHERE fapiao <> '') y
     WHERE y.n > 1 AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = y.id)""",
    "CREATE INDEX ON f_result (id)",
    """CREATE TEMP TABLE f_cand AS
     SELECT x.id, x.fen, x.ev, s.id AS tx, s.day, abs(s.day - x.day) AS dd, s.avail,
        (s.emp <> x.emp) AS other
     FROM f_lines x JOIN f_spend s ON s.ref = x.ref
     WHERE x.ev = 'r' AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)
     UNION ALL
     SELECT x.id, x.fen, x.ev, s.id, s.day, abs(s.day - x.day), s.avail, (s.emp <> x.emp)
     FROM f_lines x JOIN f_spend s ON s.serial = x.serial
     WHERE x.ev = 's' AND abs(s.day - x.day) <= %(days)s
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)
     UNION ALL
     SELECT x.id, x.fen, x.ev, s.id, s.day, abs(s.day - x.day), s.avail, false
     FROM f_lines x JOIN f_spend s ON s.emp = x.emp AND s.day BETWEEN x.day - %(days)s
        AND x.day + %(days)s AND (x.ev = 'e' OR (x.ev = 'l' AND s.last4 = x.last4))
     WHERE NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)""",
    "CREATE INDEX ON f_cand (id)",
    "ANALYZE f_cand",
    # Unknown identifiers and other employees' cards.
    """INSERT INTO f_result SELECT x.id, 'unknown' FROM f_lines x WHERE x.ev = 'r'
        AND NOT EXISTS (SELECT 1 FROM f_spend s WHERE s.ref = x.ref)
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)""",
    """INSERT INTO f_result SELECT x.id, 'unknown' FROM f_lines x WHERE x.ev = 's'
        AND NOT EXISTS (SELECT 1 FROM f_cards k WHERE k.serial = x.serial)
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)""",
    """INSERT INTO f_result SELECT x.id, 'unknown' FROM f_lines x WHERE x.ev = 'l'
        AND NOT EXISTS (SELECT 1 FROM f_cards k WHERE k.emp = x.emp AND k.last4 = x.last4)
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)""",
    """INSERT INTO f_result SELECT x.id, 'other_employee' FROM f_lines x
     JOIN f_cards k ON k.serial = x.serial WHERE x.ev = 's' AND k.emp <> x.emp
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)""",
    # One round of exact and covering picks, contested redemptions to the first line.
    """CREATE TEMP TABLE f_pick AS SELECT * FROM (SELECT p.*, sum(p.fen) OVER (PARTITION BY p.tx
        ORDER BY p.id) AS cum FROM (SELECT DISTINCT ON (c.id) c.* FROM f_cand c
        WHERE NOT c.other AND c.avail >= c.fen AND (c.ev <> 'e' OR c.avail = c.fen)
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = c.id)
        ORDER BY c.id, c.avail <> c.fen, c.dd, c.tx) p) q WHERE q.cum <= q.avail""",
    "INSERT INTO f_result SELECT DISTINCT id, 'matched' FROM f_pick",
    """UPDATE f_spend s SET avail = s.avail - p.fen FROM (SELECT tx, sum(fen) AS fen
        FROM f_pick GROUP BY tx) p WHERE p.tx = s.id""",
    # One line, several redemptions of one day.
    """INSERT INTO f_result SELECT id, 'matched' FROM (SELECT c.id FROM f_cand c
        JOIN f_spend s ON s.id = c.tx WHERE NOT c.other AND s.avail > 0
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = c.id)
        GROUP BY c.id, c.day, c.fen HAVING count(*) >= 2 AND sum(s.avail) = c.fen) g
     GROUP BY id""",
    # The nearest amount on a named redemption or card.
    """INSERT INTO f_result SELECT DISTINCT ON (c.id) c.id, 'amount_differs' FROM f_cand c
     JOIN f_spend s ON s.id = c.tx WHERE NOT c.other AND s.avail > 0 AND c.ev <> 'e'
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = c.id)
     ORDER BY c.id, abs(s.avail - c.fen)""",
    # Spend there is, but claimed in full.
    """INSERT INTO f_result SELECT DISTINCT c.id, 'duplicate' FROM f_cand c
     JOIN f_spend s ON s.id = c.tx WHERE NOT c.other AND s.avail = 0 AND s.net > 0
        AND (c.ev <> 'e' OR c.fen = s.net)
        AND NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = c.id)""",
    """INSERT INTO f_result SELECT x.id, 'no_spend' FROM f_lines x
     WHERE NOT EXISTS (SELECT 1 FROM f_result r WHERE r.id = x.id)""",
]


def _floor(setup: Setup, path: Path, days: int) -> tuple[float, dict[str, int]]:
    """The file read by ``COPY ... (FORMAT csv)`` and matched by set-based SQL over plain
    psycopg, into temporary tables; the result counted."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    with psycopg.connect(**params, autocommit=False) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute(FLOOR_SQL)
            with (
                open(path, "rb") as handle,
                cursor.copy("COPY f_raw FROM STDIN (FORMAT csv, HEADER true)") as copy,
            ):
                handle.read(3)  # the BOM
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            values = {"company": setup.company_id, "days": days}
            for statement in FLOOR_MATCH:
                cursor.execute(statement, values if "%(" in statement else None)
            cursor.execute("SELECT state, count(*) FROM f_result GROUP BY state")
            counts = dict(cursor.fetchall())
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, counts


# --- The plain way --------------------------------------------------------------------------------


def _plain(setup: Setup, path: Path, lines: int, days: int) -> tuple[float, int]:
    """A per-line ORM loop over the first ``lines`` lines of the file (written first, untimed,
    as a report of their own): each line's spend looked up by reference, serial, last 4 or
    employee, each candidate netted of refunds, voids and earlier claims, the match and the line
    written."""
    from django.db import transaction
    from django.db.models import Sum

    from cards.models import Card, CardTransaction
    from expenses.models import ExpenseLine, ExpenseMatch, ExpenseReport, LineState
    from portal import days as local_days

    sample = path.with_name("plain.csv")
    with (
        open(path, encoding="utf-8-sig", newline="") as src,
        open(sample, "w", encoding="utf-8-sig", newline="") as out,
    ):
        for n, row in enumerate(src):
            if n > lines:
                break
            out.write(row)
    report = _new_report(setup, sample.name, lines)
    with transaction.atomic():
        _copy_lines(report, sample)
    Kind = CardTransaction.Kind
    started = time.perf_counter()
    matched = 0
    for line in ExpenseLine.objects.filter(report=report).order_by("row_number").iterator():
        with transaction.atomic():
            window = local_days.days_bounds(
                line.expense_date - datetime.timedelta(days=days),
                line.expense_date + datetime.timedelta(days=days),
            )
            redemptions = CardTransaction.objects.filter(
                kind=Kind.REDEEM, card__batch__company_id=setup.company_id
            ).select_related("card__batch__line")
            state = LineState.NO_SPEND
            earlier = (
                ExpenseLine.objects.filter(
                    company_id=setup.company_id, fapiao_number=line.fapiao_number
                )
                .exclude(pk=line.pk)
                .filter(report_id__lte=report.pk)
                .order_by("report_id", "row_number")
                .first()
                if line.fapiao_number
                else None
            )
            candidates: list[CardTransaction] = []
            if earlier is not None and (
                earlier.report_id < report.pk or earlier.row_number < line.row_number
            ):
                state = LineState.DUPLICATE
            elif line.merchant_reference:
                candidates = list(redemptions.filter(merchant_reference=line.merchant_reference))
                if not candidates:
                    state = LineState.UNKNOWN
            elif line.card_serial:
                card = (
                    Card.objects.filter(
                        serial=int(line.card_serial), batch__company_id=setup.company_id
                    )
                    .select_related("batch__line")
                    .first()
                )
                if card is None:
                    state = LineState.UNKNOWN
                elif card.batch.line.employee_id != line.employee_id:
                    state = LineState.OTHER_EMPLOYEE
                else:
                    candidates = list(redemptions.filter(card=card, created_at__range=window))
            else:
                mine = redemptions.filter(
                    card__batch__line__employee_id=line.employee_id, created_at__range=window
                )
                if line.card_last4:
                    mine = mine.filter(card__last4=line.card_last4)
                candidates = list(mine)
            best: tuple[CardTransaction, Decimal] | None = None
            for tx in candidates:
                if CardTransaction.objects.filter(original=tx, kind=Kind.REDEEM_VOID).exists():
                    continue
                refunded = CardTransaction.objects.filter(original=tx, kind=Kind.REFUND).aggregate(
                    s=Sum("amount")
                )["s"] or Decimal(0)
                claimed = ExpenseMatch.objects.filter(transaction=tx).aggregate(s=Sum("amount"))[
                    "s"
                ] or Decimal(0)
                left = -tx.amount - refunded - claimed
                if left >= line.amount and (best is None or left == line.amount):
                    best = (tx, left)
            if best is not None:
                ExpenseMatch.objects.create(line=line, transaction=best[0], amount=line.amount)
                state = LineState.MATCHED
                matched += 1
            line.state = state
            line.matched_amount = line.amount if state == LineState.MATCHED else Decimal(0)
            line.save(update_fields=["state", "matched_amount"])
    seconds = time.perf_counter() - started
    ExpenseMatch.objects.filter(line__report=report).delete()
    ExpenseLine.objects.filter(report=report).delete()
    ExpenseReport.objects.filter(pk=report.pk).delete()
    return seconds, matched


# --- main -----------------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reconcile", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument("--plain-lines", type=int, default=PLAIN_LINES, help="plain-way sample")
    parser.add_argument("--match-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.match_child:
        return _match_child(int(args.match_child[0]), args.match_child[1])
    plain_lines = max(50, round(args.plain_lines * min(1.0, args.scale * 2)))

    with throwaway_environment("reconcile", _settings) as env:
        import django

        django.setup()
        from django.conf import settings as django_settings
        from django.core.management import call_command
        from django.db import connection

        from expenses.models import ReportStatus
        from expenses.services.matching import report_match
        from portal import days as local_days

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()
        print(
            f"database {env.database} migrated in {time.perf_counter() - started:.1f} s; "
            f"{version[0].split(' on ')[0] if version else 'PostgreSQL'}; {os.cpu_count()} CPUs",
            flush=True,
        )
        plan = _plan(args.scale, local_days.today())
        started = time.perf_counter()
        setup, load = _load(plan)
        n_tx = plan.tx_cards + len(plan.refunds) + len(plan.voids)
        print(
            f"loaded with COPY in {time.perf_counter() - started:.1f} s: {plan.employees:,} "
            f"order lines and batches ({load['order_lines_batches_s']:.1f} s), {plan.cards:,} "
            f"cards ({load['cards_s']:.1f} s), {n_tx:,} card transactions "
            f"({load['transactions_s']:.1f} s, {len(plan.refunds):,} refunds and "
            f"{len(plan.voids):,} voids among them)",
            flush=True,
        )
        earlier_path = env.work_dir / "earlier.csv"
        earlier_rows = _write_csv(earlier_path, _earlier_lines(plan), "BX-EARLIER")
        earlier = _new_report(setup, earlier_path.name, earlier_rows)
        _copy_lines(earlier, earlier_path)
        earlier.status = ReportStatus.MATCHING
        earlier.save(update_fields=["status"])
        earlier = report_match(report_id=earlier.pk)
        print(f"earlier report: {earlier_rows:,} lines, {earlier.result['states']}")
        path = env.work_dir / "expense-report.csv"
        rows = _write_csv(path, _report_lines(plan), "BX-2026")
        print(f"generated {path.name}: {rows:,} lines, {path.stat().st_size / 1e6:.1f} MB")

        days = int(django_settings.EXPENSE_MATCH_DAYS)
        # The floor and the plain way first, on the data as the project finds it (the earlier
        # report's claims only); what the plain way wrote is removed after it.
        floors = []
        floor_counts: dict[str, int] = {}
        for _ in range(3):
            seconds, floor_counts = _floor(setup, path, days)
            floors.append(seconds)
        floor_seconds = min(floors)
        print(
            f"floor (COPY csv + set-based SQL over psycopg, one round per stage), {rows:,} lines: "
            f"{floor_seconds:.2f} s (best of 3); its counts {floor_counts}",
            flush=True,
        )
        plain_seconds, plain_matched = _plain(setup, path, plain_lines, days)
        plain_ms = plain_seconds / plain_lines * 1e3
        plain_scaled = plain_seconds / plain_lines * rows

        mode = "intake" if _intake_available() else "copy"
        if mode == "intake":
            run = _run_project_intake(setup, path, rows, env)
            how = (
                "expense_report_receive, then the check and report_match in one Celery worker "
                "process"
            )
        else:
            run = _run_project_copy(setup, path, rows)
            how = (
                "the intake is not on this branch: csv module + COPY of the lines, then "
                "report_match, in a process standing for the worker"
            )
        states, problems = _verify(plan, run.report_id)
        print(
            f"project ({how}), {rows:,} lines: receive {run.receive_s:.2f} s + check "
            f"{run.check_s:.2f} s + match {run.match_s:.2f} s = {run.seconds:.2f} s = "
            f"{rows / run.seconds:,.0f} lines/s; worker peak RSS {run.peak_rss_mb:.0f} MB; "
            f"progress seen moving {run.progress_seen} times",
            flush=True,
        )
        print(f"states: {states}")
        print(
            f"plain way (per-line ORM loop): {plain_lines:,} lines measured in "
            f"{plain_seconds:.2f} s = {plain_ms:.1f} ms/line ({plain_matched} matched); scaled "
            f"per line to {rows:,} lines: {plain_scaled:.0f} s (not measured at that size)"
        )

    ratios = {
        "vs_floor": round(_ratio(run.seconds, floor_seconds), 2),
        "speedup_vs_plain": round(_ratio(plain_scaled, run.seconds), 1),
    }
    report = {
        "benchmark": "reconcile",
        "mode": run.mode,
        "figures": {
            "cards": plan.cards,
            "card_transactions": n_tx,
            "lines": rows,
            "project_seconds": round(run.seconds, 3),
            "project_receive_s": round(run.receive_s, 3),
            "project_check_s": round(run.check_s, 3),
            "project_match_s": round(run.match_s, 3),
            "project_lines_per_s": round(rows / run.seconds),
            "floor_seconds": round(floor_seconds, 3),
            "plain_lines_measured": plain_lines,
            "plain_ms_per_line": round(plain_ms, 2),
            "plain_seconds_scaled": round(plain_scaled, 1),
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "states": states,
        },
        "ratios": ratios,
        "targets": TARGETS,
    }
    met = {
        "vs_floor": ratios["vs_floor"] <= TARGETS["vs_floor"],
        "speedup_vs_plain": ratios["speedup_vs_plain"] >= TARGETS["speedup_vs_plain"],
        "peak_rss_mb": run.peak_rss_mb < TARGETS["peak_rss_mb"],
    }
    for key, ok in met.items():
        print(f"target {key} {TARGETS[key]}: {'met' if ok else 'NOT met'}")
    if problems:
        print("problems: " + "; ".join(problems))
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
