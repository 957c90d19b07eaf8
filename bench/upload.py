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

Also (whatever ``--scale``): the largest file's rows as an XLSX workbook, through the same path
(``xlsx_vs_csv``: its check in the worker over the CSV file's); and the refusals, each
``upload_receive`` in a process of its own (time, the process's memory before and at its peak):
a CSV and an XLSX of ``UPLOAD_MAX_ROWS + 1`` rows, and files of blank rows past the row limit
and its blank allowance (whitespace-only CSV lines; a workbook of a few KB with one cell far
below its header).
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
TARGETS = {
    "vs_floor": 8,
    "speedup_vs_plain": 40,
    "peak_rss_mb": 300,
    "xlsx_vs_csv": 3,
    "refusal_s": 2,
}


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


def _generate_xlsx(path: Path, csv_path: Path) -> None:
    """The same rows as a CSV file, as an XLSX workbook the way Excel holds them: face values,
    quantities and mobiles as numbers, the rest as text."""
    from portal.exports import XlsxWriter

    with open(csv_path, encoding="utf-8-sig", newline="") as source, open(path, "wb") as out:
        reader = csv.reader(source)
        writer = XlsxWriter(out, title="orders", header=next(reader))
        for product, face, quantity, name, mobile, email, emp, cc, note in reader:
            writer.writerow([product, int(face), int(quantity), name, int(mobile), email, emp,
                             cc, note])  # fmt: skip
        writer.close()


def _generate_over_limit(work_dir: Path, rows: int) -> dict[str, Path]:
    """Files the upload must refuse at once: ``rows`` data rows (the row limit is one less) as
    CSV and as XLSX, and files of ``rows + BLANK_ROWS_ALLOWED - 1`` blank rows after a header:
    whitespace-only CSV lines, and a few-KB workbook with one blank-looking cell far below."""
    from portal.exports import XlsxWriter
    from portal.tabular import BLANK_ROWS_ALLOWED

    files = {}
    path = work_dir / "over-limit.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        out.write(",".join(HEADER) + "\r\n")
        line = "京东E卡,100,1,王伟,13800138000,e@corp.example.com,E0000001,人力资源部,\r\n"
        out.write(line * rows)
    files["csv_over_limit"] = path
    path = work_dir / "over-limit.xlsx"
    with open(path, "wb") as out:
        xlsx = XlsxWriter(out, title="orders", header=HEADER)
        row = [
            "京东E卡",
            100,
            1,
            "王伟",
            13800138000,
            "e@corp.example.com",
            "E0000001",
            "人力资源部",
        ]
        for _ in range(rows):
            xlsx.writerow(row)
        xlsx.close()
    files["xlsx_over_limit"] = path
    blank = rows - 1 + BLANK_ROWS_ALLOWED
    path = work_dir / "blank-rows.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\r\n")
        out.write(" ,\u3000, \r\n" * blank)
    files["csv_blank_rows"] = path
    path = work_dir / "blank-rows.xlsx"
    with open(path, "wb") as out:
        xlsx = XlsxWriter(out, title="orders", header=HEADER)
        xlsx.writerow([" "])
        xlsx.close()
    # The one row after the header moved down below the blank rows.
    _move_last_row(path, blank + 2)
    files["xlsx_blank_rows"] = path
    return files


def _move_last_row(path: Path, number: int) -> None:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    members["xl/worksheets/sheet1.xml"] = (
        sheet.replace('<row r="2">', f'<row r="{number}">').replace('r="A2"', f'r="A{number}"')
    ).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _refuse_child(path: str) -> int:
    """In a process of its own (so that its peak memory is this refusal's): upload ``path`` as
    the bench's purchaser and print how long the refusal took, its message and the process's
    memory before and at its peak."""
    import django

    django.setup()
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import UploadedFile

    from bench.issuance import _status_kb
    from cards.services.uploads import upload_receive
    from portal.models import User

    purchaser = User.objects.get(email="purchaser@bench.example")
    company = purchaser.memberships.get().company
    before_kb = _status_kb(os.getpid(), "VmRSS")
    size = Path(path).stat().st_size
    started = time.perf_counter()
    message = ""
    try:
        with open(path, "rb") as handle:
            upload_receive(
                company=company,
                actor=purchaser,
                file=UploadedFile(handle, name=Path(path).name, size=size),
            )
    except ValidationError as exc:
        message = " ".join(exc.messages)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "refused": message,
                "rss_before_mb": before_kb / 1024,
                "peak_rss_mb": _status_kb(os.getpid(), "VmHWM") / 1024,
            },
            ensure_ascii=False,
        )
    )
    return 0


def _refusal(path: Path) -> dict[str, Any]:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "bench", "upload", "--refuse-child", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


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
    parser.add_argument("--refuse-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.refuse_child:
        return _refuse_child(args.refuse_child)
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
        problems: list[str] = []
        files = {}
        for seed, rows in enumerate(sizes, start=5):
            path = env.work_dir / f"orders-{rows}.csv"
            _generate(path, rows, seed)
            files[rows] = path
            print(f"generated {path.name}: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
        largest = sizes[-1]
        xlsx_path = env.work_dir / f"orders-{largest}.xlsx"
        _generate_xlsx(xlsx_path, files[largest])
        print(f"generated {xlsx_path.name}: {xlsx_path.stat().st_size / 1e6:.1f} MB")
        from django.conf import settings as django_settings

        limit = django_settings.UPLOAD_MAX_ROWS
        refusal_files = _generate_over_limit(env.work_dir, limit + 1)
        refusals: dict[str, dict[str, Any]] = {}
        for kind, path in refusal_files.items():
            refusals[kind] = found = _refusal(path)
            if not found["refused"]:
                problems.append(f"{kind} was not refused")
            print(
                f"refusal, {kind} ({path.stat().st_size / 1e3:,.1f} kB): "
                f"{found['seconds']:.2f} s; process RSS {found['rss_before_mb']:.0f} MB before, "
                f"peak {found['peak_rss_mb']:.0f} MB; “{found['refused'][:90]}”",
                flush=True,
            )
        worker = start_worker(1, env.work_dir, queues="default")
        runs: list[ProjectRun] = []
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
            with MemorySampler(worker.proc.pid) as xlsx_sampler:
                xlsx_run = _run_project(buyer, xlsx_path, largest)
            problems += _verify(buyer, xlsx_run)
            csv_run = runs[-1]
            xlsx_vs_csv = xlsx_run.check_s / csv_run.check_s
            print(
                f"project, the same {largest:,} rows as XLSX: receive {xlsx_run.receive_s:.2f} s "
                f"+ check in the worker {xlsx_run.check_s:.2f} s + confirm "
                f"{xlsx_run.confirm_s:.2f} s; check XLSX / CSV {xlsx_vs_csv:.2f}x; worker peak "
                f"RSS {max(xlsx_sampler.peak_kb.values()) / 1024:.0f} MB",
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
        "xlsx_vs_csv": round(xlsx_vs_csv, 2),
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
            "xlsx_100k_receive_s": round(xlsx_run.receive_s, 3),
            "xlsx_100k_check_s": round(xlsx_run.check_s, 3),
            "xlsx_worker_peak_rss_mb": round(max(xlsx_sampler.peak_kb.values()) / 1024, 1),
            **{f"refusal_{kind}_s": round(found["seconds"], 3) for kind, found in refusals.items()},
            **{
                f"refusal_{kind}_peak_rss_mb": round(found["peak_rss_mb"], 1)
                for kind, found in refusals.items()
            },
            **{
                f"refusal_{kind}_rss_before_mb": round(found["rss_before_mb"], 1)
                for kind, found in refusals.items()
            },
        },
        "ratios": ratios,
        "targets": TARGETS,
    }
    met = {
        "vs_floor": ratios["vs_floor"] <= TARGETS["vs_floor"],
        "speedup_vs_plain": ratios["speedup_vs_plain"] >= TARGETS["speedup_vs_plain"],
        "peak_rss_mb": peak_rss_mb < TARGETS["peak_rss_mb"],
        "xlsx_vs_csv": ratios["xlsx_vs_csv"] <= TARGETS["xlsx_vs_csv"],
        "refusal_s": all(found["seconds"] < TARGETS["refusal_s"] for found in refusals.values()),
    }
    for key, ok in met.items():
        print(f"target {key} {TARGETS[key]}: {'met' if ok else 'NOT met'}")
    if problems:
        print("problems: " + "; ".join(problems))
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
