"""Statements of account: one big company-month built by the real worker against its floor, then
the monthly job for many companies with one worker process and with two.

    python -m bench statements [--scale S] [--cards N] [--companies M] [--repeat R]

Runs on its own throwaway PostgreSQL database (created, migrated, dropped at the end), the real
Redis under a key prefix of its own, statement files and emails in a temporary folder.

Part 1: one company with 200 invoices, 200 payments (and their allocations and ledger entries)
and 100,000 cards issued last month (cards written by ``INSERT ... SELECT`` from
``generate_series`` over ten orders with recipients and cost centers; ledger rows by
``bulk_create``, stamped inside the month). A ``celery worker`` (statements queue, one process)
builds the statement: timed from the message sent to the statement found issued (PDF, CSV with
every card, XLSX with every card, SHA-256 of each, email to finance). Rounds after the first are
re-issues (a new version each). Floor, same run, same data: the statement's SQL aggregates plus
one PostgreSQL ``COPY (SELECT ...) TO STDOUT`` of the same card rows into a file. The parts of a
build are also timed one by one in this process (aggregates, PDF, CSV, XLSX), then the three
files written as a build writes them (exports in a second thread, on their own connection, while
the PDF renders).

Part 2: ``billing.tasks.statement_monthly`` for 1,000 companies (three invoices and a payment
each, one finance member each), one worker with one process, then (statements emptied) with two;
companies per second and their ratio. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import Environment, Worker, start_worker, throwaway_environment
from bench.issuance import MemorySampler

CARDS = 100_000
INVOICES = 200
COMPANIES = 1_000
ORDERS = 10
TARGETS = {"vs_floor": 5, "workers_2_vs_1": 1.6}


# --- The throwaway database, broker keys and folders ---------------------------------------------


def _settings(env: Environment) -> dict[str, str]:
    (env.work_dir / "mail").mkdir()
    return {
        "MEDIA_ROOT": str(env.work_dir / "media"),
        "EMAIL_URL": f"file://{env.work_dir / 'mail'}",
    }


# --- Data ----------------------------------------------------------------------------------------


def _last_month() -> tuple[datetime.date, datetime.date]:
    from django.utils import timezone

    from billing.services.statements import previous_month

    return previous_month(timezone.localdate())


def _companies(count: int, first: int) -> list[Any]:
    from portal.models import Company, Membership, Role, User
    from portal.validators import credit_code_check_character

    rows = []
    for n in range(first, first + count):
        first17 = f"91310000{n:09d}"
        rows.append(
            Company(
                legal_name=f"对账基准公司{n}",
                credit_code=first17 + credit_code_check_character(first17),
                status=Company.Status.ACTIVE,
            )
        )
    companies = Company.objects.bulk_create(rows)
    users = User.objects.bulk_create(
        User(email=f"finance{c.pk}@bench.example", password="!") for c in companies
    )
    Membership.objects.bulk_create(
        Membership(user=u, company=c, role=Role.FINANCE)
        for u, c in zip(users, companies, strict=True)
    )
    return companies


def _ledger(
    companies: list[Any], invoices: int, payments: int, start: datetime.date, days: int
) -> None:
    """Per company: ``invoices`` invoices and ``payments`` payments with allocations, each
    with its journal entry, spread over the month (Shanghai time)."""
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.db import transaction

    from billing.models import Account, Allocation, Invoice, JournalEntry, Payment, Posting
    from billing.services.ledger import account_get

    zone = ZoneInfo(settings.TIME_ZONE)
    cash = account_get(Account.Kind.CASH)
    income = account_get(Account.Kind.CARDS_TO_ISSUE)
    with transaction.atomic():
        receivables = {
            a.company_id: a
            for a in Account.objects.bulk_create(
                Account(code=f"receivable:{c.pk}", kind=Account.Kind.RECEIVABLE, company=c)
                for c in companies
            )
        }
        sequence = Invoice.objects.count()
        invoice_rows, entries, postings, payment_rows = [], [], [], []
        for company in companies:
            for i in range(invoices):
                sequence += 1
                day = start + datetime.timedelta(days=i % days)
                at = datetime.datetime.combine(day, datetime.time(9 + i % 10), tzinfo=zone)
                number = f"INV-{day.year}-{sequence:06d}"
                total = Decimal("1000.00") + i
                invoice_rows.append(
                    Invoice(
                        kind=Invoice.Kind.INVOICE,
                        number=number,
                        year=day.year,
                        sequence=sequence,
                        company=company,
                        order_number=f"O-{sequence}",
                        buyer_name=company.legal_name,
                        buyer_credit_code=company.credit_code,
                        issue_date=day,
                        due_date=day + datetime.timedelta(days=30),
                        face_total=total,
                        total=total,
                        created_at=at,
                    )
                )
                entries.append(
                    (
                        JournalEntry(
                            created_at=at,
                            kind="invoice_issued",
                            idempotency_key=f"invoice:{number}",
                            company=company,
                            reference=number,
                        ),
                        receivables[company.pk],
                        income,
                        total,
                    )
                )
            for i in range(payments):
                day = start + datetime.timedelta(days=i % days)
                at = datetime.datetime.combine(day, datetime.time(15), tzinfo=zone)
                reference = f"B{company.pk}-{i}"
                amount = Decimal("500.00") + i
                payment_rows.append(
                    Payment(
                        company=company,
                        bank_reference=reference,
                        dedupe_key=reference,
                        payer_name=company.legal_name,
                        amount=amount,
                        allocated_amount=amount,
                        received_on=day,
                        status=Payment.Status.ALLOCATED,
                        created_at=at,
                    )
                )
                entries.append(
                    (
                        JournalEntry(
                            created_at=at,
                            kind="payment_allocated",
                            idempotency_key=f"payment:{reference}",
                            company=company,
                            reference=reference,
                        ),
                        cash,
                        receivables[company.pk],
                        amount,
                    )
                )
        created_invoices = Invoice.objects.bulk_create(invoice_rows, batch_size=2000)
        created_payments = Payment.objects.bulk_create(payment_rows, batch_size=2000)
        JournalEntry.objects.bulk_create([e for e, *_ in entries], batch_size=2000)
        for entry, debit, credit, amount in entries:
            postings += [
                Posting(entry=entry, account=debit, amount=amount),
                Posting(entry=entry, account=credit, amount=-amount),
            ]
        Posting.objects.bulk_create(postings, batch_size=5000)
        by_company: dict[int, list[Any]] = {}
        for invoice in created_invoices:
            by_company.setdefault(invoice.company_id, []).append(invoice)
        Allocation.objects.bulk_create(
            (
                Allocation(
                    kind=Allocation.Kind.INVOICE,
                    method=Allocation.Method.REFERENCE,
                    company=p.company,
                    payment=p,
                    invoice=by_company[p.company_id or 0][i % len(by_company[p.company_id or 0])],
                    amount=p.amount,
                    created_at=p.created_at,
                )
                for i, p in enumerate(created_payments)
            ),
            batch_size=2000,
        )


def _cards(company: Any, count: int, start: datetime.date, days: int) -> None:
    """``count`` cards of ``ORDERS`` orders issued during the month, written by PostgreSQL."""
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.db import connection, transaction

    from cards.models import (
        Batch,
        BatchStatus,
        CardProduct,
        CardType,
        Order,
        OrderLine,
        OrderStatus,
    )
    from portal.models import User

    zone = ZoneInfo(settings.TIME_ZONE)
    buyer = User.objects.create_user(email="purchaser@bench.example")
    product = CardProduct.objects.create(
        name="基准礼品卡", card_type=CardType.BEARER, face_values=["100"], validity_months=36
    )
    per_order = count // ORDERS
    first_serial = 1_000_000_000
    with transaction.atomic():
        for k in range(ORDERS):
            quantity = per_order if k < ORDERS - 1 else count - per_order * (ORDERS - 1)
            issued = datetime.datetime.combine(
                start + datetime.timedelta(days=(k * 3) % days), datetime.time(10), tzinfo=zone
            )
            order = Order.objects.create(
                number=f"O-BENCH-{k:04d}",
                company=company,
                created_by=buyer,
                status=OrderStatus.FULFILLED,
                face_total=Decimal(100 * quantity),
                total=Decimal(100 * quantity),
                card_count=quantity,
                line_count=1,
            )
            line = OrderLine.objects.create(
                order=order,
                position=1,
                product=product,
                face_value=Decimal("100"),
                quantity=quantity,
                unit_price=Decimal("100"),
                amount=Decimal(100 * quantity),
                recipient_name=f"员工{k}",
                employee_id=f"E{k:05d}",
                cost_center=f"CC-{k % 4}",
            )
            batch = Batch.objects.create(
                order=order,
                line=line,
                company=company,
                product=product,
                face_value=Decimal("100"),
                quantity=quantity,
                first_serial=first_serial,
                chunk_size=quantity,
                chunk_count=1,
                status=BatchStatus.READY,
                generated=quantity,
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO cards_card (serial, batch_id, digest, key_id, ciphertext, last4, "
                    "face_value, balance, status, expires_at, created_at) "
                    "SELECT g, %s, sha256(int8send(g)), 'k1', "
                    "sha256(int8send(g) || '\\x01'::bytea) || sha256(int8send(g)), "
                    "lpad((g %% 10000)::text, 4, '0'), 100, 100, 'active', %s, "
                    "%s + (g %% 3600) * interval '1 second' "
                    "FROM generate_series(%s::bigint, %s::bigint) AS g",
                    [
                        batch.pk,
                        issued + datetime.timedelta(days=3 * 365),
                        issued,
                        first_serial,
                        first_serial + quantity - 1,
                    ],
                )
            first_serial += quantity
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- The worker ----------------------------------------------------------------------------------


def _start_worker(concurrency: int, work_dir: Path, name: str) -> Worker:
    return start_worker(concurrency, work_dir, queues="statements,default", name=name)


def _wait_issued(
    statement_filter: dict[str, Any], count: int, timeout: float, worker: Worker
) -> None:
    from billing.models import Statement

    started = last_report = time.perf_counter()
    while True:
        rows = Statement.objects.filter(**statement_filter)
        issued = rows.filter(status=Statement.Status.ISSUED).count()
        if issued >= count:
            return
        failed = list(rows.filter(status=Statement.Status.FAILED).values_list("failure", flat=True))
        now = time.perf_counter()
        if failed or now - started > timeout or worker.proc.poll() is not None:
            raise RuntimeError(f"statements not issued: {failed[:3]}\n{worker.log_tail()}")
        if count > 1 and now - last_report > 15:
            last_report = now
            print(f"    {issued:,} of {count:,} issued after {now - started:.0f} s", flush=True)
        time.sleep(0.02 if count == 1 else 0.2)


# --- Part 1 --------------------------------------------------------------------------------------


@dataclass
class PartOne:
    builds: list[float]
    floors: list[float]
    parts: dict[str, float]
    peak_rss_mb: float
    sizes: dict[str, int]
    problems: list[str]


def _floor(statement: Any, path: Path) -> float:
    """The statement's aggregates, then one COPY of the same card rows into a file."""
    from django.conf import settings
    from django.db import connection

    from billing.services.statements import period_bounds, statement_content

    start, end = period_bounds(statement.period_start, statement.period_end)
    started = time.perf_counter()
    statement_content(statement)
    with (
        open(path, "wb") as out,
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY (SELECT lpad(c.serial::text, 16, '0'), c.face_value, l.recipient_name, "
            "l.employee_id, l.cost_center, o.number, "
            "to_char(c.created_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI:SS') "
            "FROM cards_card c JOIN cards_batch b ON b.id = c.batch_id "
            "JOIN cards_orderline l ON l.id = b.line_id JOIN cards_order o ON o.id = b.order_id "
            "WHERE b.company_id = %(company)s AND c.created_at >= %(start)s "
            "AND c.created_at < %(end)s ORDER BY c.serial) TO STDOUT WITH (FORMAT csv)",
            {"tz": settings.TIME_ZONE, "company": statement.company_id, "start": start, "end": end},
        ) as copy,
    ):
        for block in copy:
            out.write(block)
    return time.perf_counter() - started


def _parts(statement: Any, folder: Path) -> dict[str, float]:
    """Each part of a build, timed alone in this process."""
    from billing.services import statements as service

    times: dict[str, float] = {}
    started = time.perf_counter()
    content = service.statement_content(statement)
    times["aggregates"] = time.perf_counter() - started
    for name, write in (
        ("pdf", service._write_pdf),
        ("csv", service._write_csv),
        ("xlsx", service._write_xlsx),
    ):
        started = time.perf_counter()
        write(content, folder / f"part.{name}")
        times[name] = time.perf_counter() - started
    # As a build writes them: the exports on a second connection while the PDF renders.
    started = time.perf_counter()
    service._write_files(
        content,
        {name: folder / f"overlapped.{name}" for name in ("pdf", "csv", "xlsx")},
        overlap=True,
    )
    times["overlapped"] = time.perf_counter() - started
    return times


def _part_one(cards: int, repeat: int, env: Environment) -> PartOne:
    from django.db import transaction

    from billing.models import Statement
    from billing.services.statements import statement_queue_reissue
    from portal.celery import app

    start, end = _last_month()
    days = (end - start).days + 1
    (company,) = _companies(1, 1)
    _ledger([company], INVOICES, INVOICES, start, days)
    prepared = time.perf_counter()
    _cards(company, cards, start, days)
    print(
        f"part 1: {INVOICES} invoices, {INVOICES} payments and {cards:,} cards in {start:%Y-%m} "
        f"(cards written in {time.perf_counter() - prepared:.1f} s)",
        flush=True,
    )
    worker = _start_worker(1, env.work_dir, "part1")
    builds: list[float] = []
    try:
        with MemorySampler(worker.proc.pid) as memory:
            for round_ in range(1, repeat + 1):
                started = time.perf_counter()
                if round_ == 1:
                    result = app.send_task(
                        "billing.tasks.statement_build",
                        kwargs={
                            "company_id": company.pk,
                            "period_start": start.isoformat(),
                            "period_end": end.isoformat(),
                            "trigger": "monthly",
                        },
                        ignore_result=False,
                    )
                    status = result.get(timeout=600)
                    if status != "issued":
                        raise RuntimeError(f"statement {status}\n{worker.log_tail()}")
                else:
                    latest = Statement.objects.filter(company=company).order_by("-version")[0]
                    with transaction.atomic():
                        fresh = statement_queue_reissue(statement=latest, actor=None)
                    _wait_issued({"pk": fresh.pk}, 1, 600, worker)
                builds.append(time.perf_counter() - started)
                print(f"  round {round_}: statement built in {builds[-1]:.2f} s", flush=True)
    finally:
        worker.stop()
    statement = Statement.objects.filter(company=company).order_by("version")[0]
    floors = []
    for _ in range(repeat):
        floors.append(_floor(statement, env.work_dir / "floor.csv"))
    print(f"  floor (aggregates + COPY to a file): {' / '.join(f'{f:.2f}' for f in floors)} s")
    parts = _parts(statement, env.work_dir)
    print(
        "  parts alone: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in parts.items()),
        flush=True,
    )
    sizes = {f.format: f.size for f in statement.files.all()}
    problems = _check_part_one(statement, cards)
    return PartOne(builds, floors, parts, max(memory.peak_kb.values()) / 1024, sizes, problems)


def _check_part_one(statement: Any, cards: int) -> list[str]:
    from pypdf import PdfReader

    problems = []
    summary = statement.summary
    if summary["cards"]["issued_count"] != cards:
        problems.append(f"{summary['cards']['issued_count']} cards in the summary for {cards}")
    with statement.files.get(format="csv").file.open("rb") as handle:
        lines = sum(1 for line in handle if line[:8].isdigit())
    if lines != cards:
        problems.append(f"{lines} card lines in the CSV for {cards}")
    with statement.files.get(format="pdf").file.open("rb") as handle:
        pages = len(PdfReader(handle).pages)
    print(
        f"  checks: {cards:,} cards in the summary and the CSV; PDF {pages} pages; "
        f"opening {summary['opening']}, closing {summary['closing']}"
    )
    return problems


# --- Part 2 --------------------------------------------------------------------------------------


def _part_two(companies: int, env: Environment) -> dict[int, float]:
    from django.db import connection

    from billing.models import Statement
    from portal.celery import app
    from portal.models import Company

    start, end = _last_month()
    Company.objects.update(status=Company.Status.SUSPENDED)  # part 1's company
    made = time.perf_counter()
    fleet = _companies(companies, 10)
    _ledger(fleet, 3, 1, start, (end - start).days + 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"part 2: {companies:,} companies with 3 invoices and 1 payment each "
        f"(made in {time.perf_counter() - made:.1f} s)",
        flush=True,
    )
    rates: dict[int, float] = {}
    for concurrency in (1, 2):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE billing_statementfile, billing_statement")
        worker = _start_worker(concurrency, env.work_dir, f"part2-{concurrency}")
        try:
            started = time.perf_counter()
            queued = app.send_task(
                "billing.tasks.statement_monthly",
                kwargs={"month_start": (end + datetime.timedelta(days=1)).isoformat()},
                ignore_result=False,
            ).get(timeout=300)
            if queued != companies:
                raise RuntimeError(f"{queued} statements queued for {companies} companies")
            _wait_issued({"period_start": start, "period_end": end}, companies, 3600, worker)
            seconds = time.perf_counter() - started
        finally:
            worker.stop()
        rates[concurrency] = companies / seconds
        print(
            f"  {concurrency} worker process{'es' if concurrency > 1 else ''}: {companies:,} "
            f"statements in {seconds:.1f} s = {rates[concurrency]:.1f} companies/s",
            flush=True,
        )
    issued = Statement.objects.filter(status=Statement.Status.ISSUED).count()
    if issued != companies:
        raise RuntimeError(f"{issued} statements issued for {companies} companies")
    return rates


# --- Main ----------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench statements", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies cards and companies")
    parser.add_argument("--cards", type=int, default=CARDS)
    parser.add_argument("--companies", type=int, default=COMPANIES)
    parser.add_argument("--repeat", type=int, default=3, help="builds in part 1; the best counts")
    args = parser.parse_args(argv)
    cards = max(1_000, round(args.cards * args.scale))
    companies = max(20, round(args.companies * args.scale))

    with throwaway_environment("statements", _settings) as env:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()
        print(
            f"database {env.database} migrated in {time.perf_counter() - started:.1f} s; "
            f"Redis prefix {env.prefix}; "
            f"{version[0].split(' on ')[0] if version else 'PostgreSQL'}; {os.cpu_count()} CPUs",
            flush=True,
        )
        one = _part_one(cards, max(1, args.repeat), env)
        rates = _part_two(companies, env)

    build, floor = min(one.builds), min(one.floors)
    ratios = {
        "vs_floor": round(build / floor, 2),
        "workers_2_vs_1": round(rates[2] / rates[1], 2),
    }
    print(
        f"one statement ({cards:,} cards): best build {build:.2f} s, best floor {floor:.2f} s, "
        f"ratio {ratios['vs_floor']}; monthly job: {rates[1]:.1f} companies/s with one worker "
        f"process, {rates[2]:.1f} with two, ratio {ratios['workers_2_vs_1']}"
    )
    met = {
        "vs_floor": ratios["vs_floor"] <= TARGETS["vs_floor"],
        "workers_2_vs_1": ratios["workers_2_vs_1"] >= TARGETS["workers_2_vs_1"],
    }
    for key, target in TARGETS.items():
        sign = "<=" if key == "vs_floor" else ">="
        print(f"target {key} {sign} {target}: {'met' if met[key] else 'NOT met'} ({ratios[key]})")
    if one.problems:
        print("problems: " + "; ".join(one.problems))
    report = {
        "benchmark": "statements",
        "figures": {
            "cards": cards,
            "invoices": INVOICES,
            "payments": INVOICES,
            "statement_seconds": round(build, 3),
            "statement_rounds": [round(s, 3) for s in one.builds],
            "floor_seconds": round(floor, 3),
            "part_seconds": {k: round(v, 3) for k, v in one.parts.items()},
            "file_bytes": one.sizes,
            "worker_peak_rss_mb": round(one.peak_rss_mb, 1),
            "companies": companies,
            "companies_per_s_1_worker": round(rates[1], 2),
            "companies_per_s_2_workers": round(rates[2], 2),
        },
        "ratios": ratios,
        "targets": TARGETS,
    }
    print(json.dumps(report, ensure_ascii=False))
    return 1 if one.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
