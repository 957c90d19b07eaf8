"""Order files: check and confirm of generated CSV files of 10,000 and 100,000 rows, through the
path production takes for large files, against the plain way and a floor.

    python -m bench upload [--scale S] [--plain-rows N]

Runs on its own throwaway PostgreSQL database (created, migrated, dropped at the end) and on the
real Redis under a key prefix of its own (deleted at the end), with a media folder of its own.
A company, its purchaser and three card products are made first; the files (recipients with
names, unique mobiles, emails and employee ids; mixed products and face values; a quantity
column) are generated before the clock starts, and one ``celery worker`` (prefork, one process)
is started and warmed up.

What is timed, per file, is what a buyer's large upload costs from the request to the draft
order: ``upload_receive`` (size, type and header checks, storing the file, its sha256, queueing
the check), the check in the worker (``cards.tasks.upload_check``; the bench polls the status as
the page does), then ``upload_confirm`` (the re-check against today's catalog and prices and the
order with all its lines, written with COPY in one transaction). The worker's processes are
sampled for their peak memory meanwhile (``VmHWM``).

In the same run, on the same table (order lines): the floor, reading the 100,000-row file with
the ``csv`` module and loading its rows with ``COPY``; and the plain way, django-import-export's
default ``ModelResource`` for ``OrderLine`` and ``import_data(dry_run=False)``, measured on a
sample of 5,000 rows (it takes about 74 s for 100,000) and scaled per row to 100,000. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import Environment, start_worker, throwaway_environment
from bench.issuance import MemorySampler

SIZES = (10_000, 100_000)
PLAIN_ROWS = 5_000
HEADER = ["产品", "面值", "数量", "姓名", "手机", "邮箱", "工号", "成本中心", "备注"]
PRODUCTS = (
    ("京东E卡", "JD e-card", ["100", "200", "500", "1000"]),
    ("星巴克礼品卡", "Starbucks card", ["50", "100", "200"]),
    ("超市购物卡", "Supermarket card", ["100", "300", "500", "1000"]),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚"
TARGETS = {"vs_floor": 8, "speedup_vs_plain": 40, "peak_rss_mb": 300}


def _settings(env: Environment) -> dict[str, str]:
    return {
        "MEDIA_ROOT": str(env.work_dir / "media"),
        # Every file takes the large files' path (the worker), whatever --scale.
        "UPLOAD_INLINE_MAX_BYTES": "0",
    }


# --- Data -------------------------------------------------------------------------------------


@dataclass
class Buyer:
    company: Any
    purchaser: Any
    products: list[Any]


def _prepare_buyer() -> Buyer:
    from cards.models import CardProduct, CardType
    from portal.models import Company, Membership, Role, User
    from portal.validators import credit_code_check_character

    first17 = "91310000000000002"
    company = Company.objects.create(
        legal_name="上传基准公司",
        credit_code=first17 + credit_code_check_character(first17),
        status=Company.Status.ACTIVE,
    )
    purchaser = User.objects.create_user(email="purchaser@bench.example")
    Membership.objects.create(user=purchaser, company=company, role=Role.PURCHASER)
    products = [
        CardProduct.objects.create(
            name=name,
            name_en=name_en,
            card_type=CardType.BEARER,
            face_values=values,
            validity_months=36,
        )
        for name, name_en, values in PRODUCTS
    ]
    return Buyer(company, purchaser, products)


def _generate(path: Path, rows: int, seed: int) -> None:
    """An order file as HR sends it: UTF-8 with BOM, one row per employee."""
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            name, _en, values = PRODUCTS[rnd.randrange(len(PRODUCTS))]
            writer.writerow(
                [
                    name,
                    rnd.choice(values),
                    rnd.choice(("1", "1", "1", "2", "3")),
                    rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(("", *GIVEN)),
                    f"13{seed}{i:08d}"[:11],
                    f"employee{i}@corp{seed}.example.com",
                    f"E{seed}{i:07d}",
                    rnd.choice(("人力资源部", "销售部", "研发中心", "财务部")),
                    rnd.choice(("", "", "节日福利", "年终奖励")),
                ]
            )


# --- The project ------------------------------------------------------------------------------


@dataclass
class ProjectRun:
    rows: int
    receive_s: float
    check_s: float
    confirm_s: float
    seconds: float
    progress_seen: int
    lines: int


def _run_project(buyer: Buyer, path: Path, rows: int) -> ProjectRun:
    from django.core.files.uploadedfile import UploadedFile

    from cards.models import OrderUpload, UploadStatus
    from cards.services.uploads import upload_confirm, upload_receive

    size = path.stat().st_size
    started = time.perf_counter()
    with open(path, "rb") as handle:
        upload = upload_receive(
            company=buyer.company,
            actor=buyer.purchaser,
            file=UploadedFile(handle, name=path.name, size=size),
        )
    received = time.perf_counter()
    if upload.status != UploadStatus.CHECKING:
        raise RuntimeError(f"not sent to the worker: {upload.status} {upload.result}")
    progress_seen = 0
    deadline = received + 600
    while True:
        status, done = (
            OrderUpload.objects.filter(pk=upload.pk).values_list("status", "rows_done").get()
        )
        if status not in (UploadStatus.CHECKING, UploadStatus.RECEIVED):
            break
        if 0 < done < rows:
            progress_seen += 1
        if time.perf_counter() > deadline:
            raise RuntimeError("the check did not finish in 10 minutes")
        time.sleep(0.01)
    checked = time.perf_counter()
    upload.refresh_from_db()
    if upload.status != UploadStatus.VALID:
        raise RuntimeError(
            f"the generated file did not check valid: {upload.status} {upload.failure} "
            f"{upload.result.get('errors', [])[:3]}"
        )
    order = upload_confirm(upload=upload, actor=buyer.purchaser)
    finished = time.perf_counter()
    return ProjectRun(
        rows=rows,
        receive_s=received - started,
        check_s=checked - received,
        confirm_s=finished - checked,
        seconds=finished - started,
        progress_seen=progress_seen,
        lines=order.line_count,
    )


# --- The floor and the plain way --------------------------------------------------------------


def _floor(buyer: Buyer, path: Path) -> tuple[float, int]:
    """Read the file with the csv module and COPY its rows into the order lines of one order:
    no checks beyond what the conversion needs."""
    from django.db import connection, transaction

    from cards.models import OrderLine
    from cards.services.orders import LineInput, order_create

    product_ids = {p.name: p.pk for p in buyer.products}
    order = order_create(
        company=buyer.company,
        actor=buyer.purchaser,
        lines=[LineInput(product=buyer.products[0], face_value="100", quantity=1)],
    )
    OrderLine.objects.filter(order=order).delete()
    columns = (
        "order_id, position, product_id, face_value, quantity, unit_price, amount, "
        "recipient_name, recipient_mobile, recipient_email, employee_id, cost_center, note"
    )
    started = time.perf_counter()
    count = 0
    with (
        transaction.atomic(),
        open(path, encoding="utf-8-sig", newline="") as handle,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {OrderLine._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        reader = csv.reader(handle)
        next(reader)
        block: list[str] = []
        prefix = f"{order.pk}\t"
        for count, (product, face, quantity, name, mobile, email, emp, cc, note) in enumerate(
            reader, start=1
        ):
            amount = int(face) * int(quantity)
            block.append(
                f"{prefix}{count}\t{product_ids[product]}\t{face}\t{quantity}\t{face}\t{amount}"
                f"\t{name}\t{mobile}\t{email}\t{emp}\t{cc}\t{note}\n"
            )
            if len(block) >= 5000:
                copy.write("".join(block))
                block.clear()
        copy.write("".join(block))
    return time.perf_counter() - started, count


def _plain(buyer: Buyer, path: Path, rows: int) -> float:
    """django-import-export's default ModelResource for OrderLine, import_data(dry_run=False),
    on the first ``rows`` rows of the file (the same values, as the resource's columns)."""
    import tablib
    from import_export import resources

    from cards.models import OrderLine
    from cards.services.orders import LineInput, order_create

    class OrderLineResource(resources.ModelResource):
        class Meta:
            model = OrderLine

    product_ids = {p.name: p.pk for p in buyer.products}
    order = order_create(
        company=buyer.company,
        actor=buyer.purchaser,
        lines=[LineInput(product=buyer.products[0], face_value="100", quantity=1)],
    )
    OrderLine.objects.filter(order=order).delete()
    dataset = tablib.Dataset(
        headers=[
            "id",
            "order",
            "position",
            "product",
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
        ]
    )
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for position, (product, face, quantity, name, mobile, email, emp, cc, note) in enumerate(
            reader, start=1
        ):
            if position > rows:
                break
            amount = Decimal(face) * int(quantity)
            dataset.append(
                [
                    "",
                    order.pk,
                    position,
                    product_ids[product],
                    face,
                    quantity,
                    face,
                    str(amount),
                    name,
                    mobile,
                    email,
                    emp,
                    cc,
                    note,
                ]
            )
    started = time.perf_counter()
    result = OrderLineResource().import_data(dataset, dry_run=False)
    seconds = time.perf_counter() - started
    if result.has_errors() or result.has_validation_errors():
        raise RuntimeError("the plain import reported errors")
    written = OrderLine.objects.filter(order=order).count()
    if written != rows:
        raise RuntimeError(f"the plain import wrote {written} of {rows} rows")
    return seconds


def _verify(buyer: Buyer, run: ProjectRun) -> list[str]:
    from cards.models import Order

    order = Order.objects.filter(company=buyer.company).order_by("-pk").first()
    problems = []
    if order is None or order.line_count != run.rows:
        problems.append(f"the order has {order and order.line_count} lines, not {run.rows}")
    elif order.lines.count() != run.rows:
        problems.append("the order's line count and its lines differ")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench upload", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the row counts")
    parser.add_argument("--plain-rows", type=int, default=PLAIN_ROWS, help="plain-way sample")
    args = parser.parse_args(argv)
    sizes = [max(100, round(size * args.scale)) for size in SIZES]
    plain_rows = max(100, round(args.plain_rows * min(1.0, args.scale * 2)))

    with throwaway_environment("upload", _settings) as env:
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
            f"Redis {env.redis_url} (prefix {env.prefix}); "
            f"{version[0].split(' on ')[0] if version else 'PostgreSQL'}; {os.cpu_count()} CPUs",
            flush=True,
        )
        buyer = _prepare_buyer()
        files = {}
        for seed, rows in enumerate(sizes, start=5):
            path = env.work_dir / f"orders-{rows}.csv"
            _generate(path, rows, seed)
            files[rows] = path
            print(f"generated {path.name}: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
        worker = start_worker(1, env.work_dir, queues="default")
        runs: list[ProjectRun] = []
        problems: list[str] = []
        try:
            with MemorySampler(worker.proc.pid) as sampler:
                for rows in sizes:
                    run = _run_project(buyer, files[rows], rows)
                    runs.append(run)
                    problems += _verify(buyer, run)
                    print(
                        f"project, {rows:,} rows: receive {run.receive_s:.2f} s + check in the "
                        f"worker {run.check_s:.2f} s + confirm {run.confirm_s:.2f} s = "
                        f"{run.seconds:.2f} s = {rows / run.seconds:,.0f} rows/s; progress "
                        f"seen moving {run.progress_seen} times",
                        flush=True,
                    )
        finally:
            worker.stop()
        peak_rss_mb = max(sampler.peak_kb.values()) / 1024
        print(
            "worker peak RSS per process (main, then pool) "
            + " / ".join(f"{kb / 1024:.0f}" for kb in sampler.peak_kb.values())
            + " MB"
        )
        largest = sizes[-1]
        floors = []
        for _ in range(3):
            seconds, _count = _floor(buyer, files[largest])
            floors.append(seconds)
        floor_seconds = min(floors)
        print(
            f"floor (csv module + COPY), {largest:,} rows: {floor_seconds:.2f} s (best of 3) = "
            f"{largest / floor_seconds:,.0f} rows/s"
        )
        plain_seconds = _plain(buyer, files[largest], plain_rows)
        plain_us = plain_seconds / plain_rows * 1e6
        plain_scaled = plain_us * largest / 1e6
        print(
            f"plain way (django-import-export default ModelResource.import_data, dry_run=False): "
            f"{plain_rows:,} rows measured in {plain_seconds:.2f} s = {plain_us:.0f} us/row; "
            f"scaled per row to {largest:,} rows: {plain_scaled:.1f} s (not measured at that "
            "size)"
        )

    project = runs[-1]
    ratios = {
        "vs_floor": round(project.seconds / floor_seconds, 2),
        "speedup_vs_plain": round(plain_scaled / project.seconds, 1),
    }
    report = {
        "benchmark": "upload",
        "figures": {
            **{f"project_{run.rows}_seconds": round(run.seconds, 3) for run in runs},
            **{f"project_{run.rows}_rows_per_s": round(run.rows / run.seconds) for run in runs},
            "project_100k_receive_s": round(project.receive_s, 3),
            "project_100k_check_s": round(project.check_s, 3),
            "project_100k_confirm_s": round(project.confirm_s, 3),
            "rows": largest,
            "floor_seconds": round(floor_seconds, 3),
            "plain_rows_measured": plain_rows,
            "plain_us_per_row": round(plain_us, 1),
            "plain_seconds_scaled": round(plain_scaled, 1),
            "peak_rss_mb": round(peak_rss_mb, 1),
        },
        "ratios": ratios,
        "targets": TARGETS,
    }
    met = {
        "vs_floor": ratios["vs_floor"] <= TARGETS["vs_floor"],
        "speedup_vs_plain": ratios["speedup_vs_plain"] >= TARGETS["speedup_vs_plain"],
        "peak_rss_mb": peak_rss_mb < TARGETS["peak_rss_mb"],
    }
    for key, ok in met.items():
        print(f"target {key} {TARGETS[key]}: {'met' if ok else 'NOT met'}")
    if problems:
        print("problems: " + "; ".join(problems))
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
