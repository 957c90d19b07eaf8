"""Card issuance: cards generated and committed per second through the real Celery workers,
against the floor (pure generation + ``COPY`` of precomputed rows) and the plain way.

    python -m bench issuance [--scale S] [--cards N] [--concurrency C] [--chunk-size K]

Runs on its own throwaway PostgreSQL database (created, migrated, dropped at the end) and on the
real Redis under a key prefix of its own (deleted at the end). One funded order of ``N`` cards
(1,000,000 by default; ``--scale`` multiplies it) is prepared through the services before the
clock starts, and one ``celery worker`` (prefork, ``C`` processes, codes and default queues) is
started and warmed up. What is timed is the engine as production runs it: from
``order_begin_fulfilment`` (batches, chunks, one message per chunk) to the order found fulfilled
(every chunk generated and committed, every batch finalised and posted to the ledger). The
worker's processes are sampled for their peak memory (``VmHWM``) meanwhile.

Then, in the same run and on the same table: the floor, that is the pure code, digest and
encryption work (``codes.generate_block`` for ``N`` cards in two processes) plus ``COPY`` of
``N`` precomputed binary rows over two connections (the faster of one ``COPY`` per chunk and one
per connection), and the plain way on 50,000 cards (scaled): per code, an ORM existence check of
its digest, then ``bulk_create``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from unittest import mock

# The throwaway database and Redis helpers are the approvals benchmark's.
from bench.common import Environment, Worker, start_worker, throwaway_environment

CARDS = 1_000_000
PLAIN_CARDS = 50_000
FACE_VALUE = "100"
LINE_MAX = 1_000_000  # ORDER_MAX_QUANTITY: larger orders get more lines
LARGE = "900000000000.00"  # no refusal for credit, no review for size or velocity

TARGETS = {
    # The engine (Celery, chunk bookkeeping, finalising, the ledger) costs at most half again
    # what generating the codes and loading the same rows costs at the least.
    "vs_floor": "<= 1.5",
    # A worker process holds one chunk's bookkeeping and one COPY block, whatever the batch size.
    "worker_peak_rss_mb": "< 300",
}


# --- The throwaway database, broker keys and environment ----------------------------------------


def _throwaway_environment(
    chunk_size: int | None,
) -> contextlib.AbstractContextManager[Environment]:
    def settings(env: Environment) -> dict[str, str]:
        values = {"ORDER_PLATFORM_LIMIT": LARGE, "ORDER_VELOCITY_MAX_VALUE": LARGE}
        if chunk_size:
            values["ISSUANCE_CHUNK_SIZE"] = str(chunk_size)
        return values

    return throwaway_environment("issuance", settings)


# --- The order ---------------------------------------------------------------------------------


@dataclass
class Buyer:
    company: Any
    purchaser: Any
    product: Any


def _prepare_buyer() -> Buyer:
    """An active company with a credit line large enough for any run, its purchaser, and a
    bearer card product."""
    from billing.models import CreditLine
    from cards.models import CardProduct, CardType
    from portal.models import Company, Membership, Role, User
    from portal.validators import credit_code_check_character

    first17 = "91310000000000001"
    company = Company.objects.create(
        legal_name="发卡基准公司",
        credit_code=first17 + credit_code_check_character(first17),
        status=Company.Status.ACTIVE,
        approval_threshold=Decimal(LARGE),
    )
    CreditLine.objects.create(company=company, limit=Decimal(LARGE), net_days=30)
    purchaser = User.objects.create_user(email="purchaser@bench.example")
    Membership.objects.create(user=purchaser, company=company, role=Role.PURCHASER)
    product = CardProduct.objects.create(
        name="Bench gift card",
        name_en="Bench gift card",
        card_type=CardType.BEARER,
        face_values=[FACE_VALUE],
        validity_months=36,
    )
    return Buyer(company, purchaser, product)


def _prepare_order(buyer: Buyer, cards: int) -> int:
    """A funded credit order of ``cards`` bearer cards, through the services; its hand-off
    message to the workers is held back so that the clock can start at
    ``order_begin_fulfilment``."""
    from cards.models import OrderStatus
    from cards.services.orders import LineInput, RegistrationInput, order_create
    from cards.services.workflow import order_submit
    from portal.services import outbox
    from portal.validators import resident_id_check_character

    quantities = [LINE_MAX] * (cards // LINE_MAX) + ([cards % LINE_MAX] if cards % LINE_MAX else [])
    id17 = "11010519491231002"
    order = order_create(
        company=buyer.company,
        actor=buyer.purchaser,
        lines=[
            LineInput(product=buyer.product, face_value=FACE_VALUE, quantity=q) for q in quantities
        ],
        registration=RegistrationInput(
            agent_name="王小明",
            id_type="resident_id",
            id_number=id17 + resident_id_check_character(id17),
            contact_phone="13800138000",
        ),
    )
    # The benchmark starts the fulfilment itself, timed: the outbox does not publish the start.
    with mock.patch.object(outbox, "publish_after_commit"):
        order = order_submit(order=order, actor=buyer.purchaser)
    assert order.status == OrderStatus.FUNDED, order.status
    return order.pk


# --- The worker and its memory -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class MemorySampler:
    """Every 0.2 s: each process of the worker's tree, its peak resident set (VmHWM) and the
    tree's total resident set (shared pages of forked children count once per process)."""

    root: int
    peak_kb: dict[int, int] = field(default_factory=dict)
    tree_peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        pids = [self.root, *_children(self.root)]
        total = 0
        for pid in pids:
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), _status_kb(pid, "VmHWM"))
            total += _status_kb(pid, "VmRSS")
        self.tree_peak_kb = max(self.tree_peak_kb, total)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _start_worker(concurrency: int, work_dir: Path) -> Worker:
    return start_worker(concurrency, work_dir, queues="codes,default")


# --- The project's run -------------------------------------------------------------------------


@dataclass
class ProjectRun:
    seconds: float
    peak_rss_mb: float
    tree_peak_rss_mb: float
    process_peaks_mb: list[float]  # the worker's main process first, then its children
    problems: list[str]


def _run_project(order_id: int, cards: int, concurrency: int, work_dir: Path) -> ProjectRun:
    from django.db import connection

    from cards.models import Batch, BatchStatus, Order, OrderStatus
    from cards.services.workflow import order_begin_fulfilment

    worker = _start_worker(concurrency, work_dir)
    _checkpoint()
    timeout = max(600.0, cards / 1000)
    try:
        with MemorySampler(worker.proc.pid) as memory:
            started = time.perf_counter()
            order_begin_fulfilment(order_id=order_id)
            while True:
                status = Order.objects.filter(pk=order_id).values_list("status", flat=True).get()
                if status == OrderStatus.FULFILLED:
                    break
                failed = Batch.objects.filter(order_id=order_id, status=BatchStatus.FAILED)
                if failed.exists() or time.perf_counter() - started > timeout:
                    reasons = list(failed.values_list("failure_reason", flat=True))
                    raise RuntimeError(f"issuance did not finish: {reasons}\n{worker.log_tail()}")
                time.sleep(0.02)
            seconds = time.perf_counter() - started
    finally:
        worker.stop()
        connection.close()
    peak = max(memory.peak_kb.values()) / 1024
    return ProjectRun(
        seconds=seconds,
        peak_rss_mb=peak,
        tree_peak_rss_mb=memory.tree_peak_kb / 1024,
        process_peaks_mb=[kb / 1024 for kb in memory.peak_kb.values()],
        problems=_verify(order_id, cards),
    )


def _verify(order_id: int, cards: int) -> list[str]:
    """Exactly the ordered cards: one per serial of each batch's block, distinct digests, every
    chunk done, every batch ready with one ledger entry."""
    from django.db import connection

    from billing.models import JournalEntry
    from cards.models import Batch, BatchStatus, Chunk, ChunkStatus

    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT c.serial), count(DISTINCT c.digest) FROM cards_card c "
            "JOIN cards_batch b ON b.id = c.batch_id WHERE b.order_id = %s",
            [order_id],
        )
        total, serials, digests = cursor.fetchone()
    if not total == serials == digests == cards:
        problems.append(f"{total} cards, {serials} serials, {digests} digests for {cards} ordered")
    for batch in Batch.objects.filter(order_id=order_id):
        if batch.status != BatchStatus.READY or batch.generated != batch.quantity:
            problems.append(f"batch {batch.pk}: {batch.status}, {batch.generated} generated")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), min(serial / 10), max(serial / 10) FROM cards_card "
                "WHERE batch_id = %s",
                [batch.pk],
            )
            count, low, high = cursor.fetchone()
        if count != batch.quantity or (count and high - low + 1 != count):
            problems.append(f"batch {batch.pk}: serials not one gapless block")
        entries = JournalEntry.objects.filter(idempotency_key=f"card_issuance:{batch.public_id}")
        if entries.count() != 1:
            problems.append(f"batch {batch.pk}: {entries.count()} ledger entries")
    if Chunk.objects.filter(batch__order_id=order_id).exclude(status=ChunkStatus.DONE).exists():
        problems.append("chunks left undone")
    return problems


# --- The floor -----------------------------------------------------------------------------------


def _in_processes(
    target: Callable[..., None], args_per_process: list[tuple[Any, ...]], timeout: float
) -> float:
    """Run ``target(*args, ready, go, out)`` in forked processes; each prepares, says ready, waits
    for the start, works and reports (start, end). Returns the wall time of the work."""
    from django.db import connections

    connections.close_all()  # a forked child must not share the parent's connection
    ctx = mp.get_context("fork")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args, ready, go, out), daemon=True)
        for args in args_per_process
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            message = ready.get(timeout=timeout)
            if message:
                raise RuntimeError(message)
        go.set()
        spans = [out.get(timeout=timeout) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    for span in spans:
        if isinstance(span, str):
            raise RuntimeError(span)
    return max(end for _, end in spans) - min(start for start, _ in spans)


def _generate_only(first: int, count: int, ready: Any, go: Event, out: Any) -> None:
    from cards import codes
    from cards.services.issuance import COPY_BLOCK

    ready.put("")
    go.wait()
    started = time.perf_counter()
    for offset in range(0, count, COPY_BLOCK):
        codes.generate_block(first + offset, min(COPY_BLOCK, count - offset))
    out.put((started, time.perf_counter()))


def _copy_precomputed(
    batch_id: int, first: int, count: int, per_copy: int, ready: Any, go: Event, out: Any
) -> None:
    """Load ``count`` precomputed rows, ``per_copy`` per COPY and transaction."""
    from django.db import connection, connections, transaction
    from django.utils import timezone

    from cards import card_copy, codes
    from cards.models import Batch
    from cards.services import issuance

    try:
        batch = Batch.objects.get(pk=batch_id)
        key_id = codes.generate_block(first, 1).key_id
        with connection.cursor() as cursor:
            row = card_copy.copy_row_format(cursor.cursor, batch, key_id, timezone.now())
        buffers = []
        for offset in range(0, count, per_copy):
            parts = [card_copy.COPY_SIGNATURE]
            for sub in range(offset, min(offset + per_copy, count), issuance.COPY_BLOCK):
                block = codes.generate_block(
                    first + sub, min(issuance.COPY_BLOCK, offset + per_copy - sub, count - sub)
                )
                columns = zip(
                    block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
                )
                parts += [row % (s.to_bytes(8), d, c, last4) for s, d, c, last4 in columns]
            parts.append(card_copy.COPY_TRAILER)
            buffers.append(b"".join(parts))
            del parts
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        ready.put(f"{type(exc).__name__}: {exc}")
        return
    ready.put("")
    go.wait()
    started = time.perf_counter()
    try:
        for buffer in buffers:
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(card_copy.COPY_SQL) as copy,
            ):
                copy.write(buffer)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")
        return
    finally:
        connections.close_all()
    out.put((started, time.perf_counter()))


def _truncate_cards() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE cards_card CASCADE")
    _checkpoint()


def _checkpoint() -> None:
    """Flush dirty pages now, so that a measured load does not pay for the previous one's
    (needs a superuser or pg_checkpoint; skipped without)."""
    from django.db import DatabaseError, connection

    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _floor(batch_id: int, first: int, cards: int, chunk: int) -> dict[str, float]:
    halves = [(first, cards // 2), (first + cards // 2, cards - cards // 2)]
    generate = _in_processes(_generate_only, halves, 600)
    print(f"floor, generation: {cards:,} cards in 2 processes in {generate:.2f} s", flush=True)
    copies = {}
    for label, per_copy in (("one COPY per chunk", chunk), ("one COPY per connection", cards)):
        _truncate_cards()
        copies[label] = _in_processes(
            _copy_precomputed, [(batch_id, f, n, per_copy) for f, n in halves], 1800
        )
        print(
            f"floor, COPY of precomputed rows, 2 connections, {label}: {copies[label]:.2f} s",
            flush=True,
        )
    _truncate_cards()
    return {"generate": generate, "copy": min(copies.values())}


# --- The plain way -------------------------------------------------------------------------------


def _plain(batch_id: int, first: int, cards: int) -> float:
    """Per code: look its digest up through the ORM, then ``bulk_create`` the new cards."""
    from django.db import transaction
    from django.utils import timezone

    from cards import codes
    from cards.models import Batch, Card, CardStatus

    batch = Batch.objects.get(pk=batch_id)
    started = time.perf_counter()
    with transaction.atomic():
        key_id, generated = codes.generate(first, cards)
        now = timezone.now()
        fresh = []
        for card in generated:
            if Card.objects.filter(digest=card.digest).exists():
                continue
            fresh.append(
                Card(
                    serial=int(card.serial),
                    batch=batch,
                    digest=card.digest,
                    key_id=key_id,
                    ciphertext=card.ciphertext,
                    last4=card.last4,
                    face_value=batch.face_value,
                    balance=batch.face_value,
                    status=CardStatus.ACTIVE,
                    expires_at=batch.expires_at,
                    created_at=now,
                )
            )
        Card.objects.bulk_create(fresh, batch_size=1000)
    seconds = time.perf_counter() - started
    if Card.objects.count() != cards:
        raise RuntimeError("the plain way did not load every card")
    _truncate_cards()
    return seconds


# --- Main ---------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench issuance", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the card counts")
    parser.add_argument("--cards", type=int, default=CARDS, help="cards in the order")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--chunk-size", type=int, default=None, help="ISSUANCE_CHUNK_SIZE")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of project + floor; the best of each counts"
    )
    args = parser.parse_args(argv)
    cards = max(1_000, round(args.cards * args.scale))
    plain_cards = max(1_000, round(PLAIN_CARDS * args.scale))

    with _throwaway_environment(args.chunk_size) as env:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        from cards.models import Batch

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()
        print(
            f"database {env.database} migrated in {time.perf_counter() - started:.1f} s; "
            f"Redis {env.redis_url} (prefix {env.prefix}); "
            f"{version[0].split(' on ')[0] if version else 'PostgreSQL'}; {os.cpu_count()} CPUs"
        )
        chunk = settings.ISSUANCE_CHUNK_SIZE
        buyer = _prepare_buyer()
        projects: list[ProjectRun] = []
        floors: list[dict[str, float]] = []
        for round_ in range(1, max(1, args.repeat) + 1):
            order_id = _prepare_order(buyer, cards)
            print(
                f"round {round_}: order of {cards:,} cards at {FACE_VALUE} CNY funded; chunks of "
                f"{chunk:,}; one worker, prefork, {args.concurrency} processes",
                flush=True,
            )
            project = _run_project(order_id, cards, args.concurrency, env.work_dir)
            projects.append(project)
            print(
                f"project: {cards:,} cards in {project.seconds:.2f} s = "
                f"{cards / project.seconds:,.0f} cards/s; worker peak RSS per process (main, "
                f"then pool) {' / '.join(f'{mb:.0f}' for mb in project.process_peaks_mb)} MB, "
                f"whole tree {project.tree_peak_rss_mb:.0f} MB",
                flush=True,
            )
            print(
                "checks: "
                + (
                    "; ".join(project.problems)
                    if project.problems
                    else f"{cards:,} cards, distinct serials and digests, each batch one gapless "
                    "serial block, every chunk done, every batch ready with one ledger entry"
                ),
                flush=True,
            )
            batch = Batch.objects.filter(order_id=order_id).order_by("pk").first()
            assert batch is not None
            batch_id = batch.pk
            # Serials past the order's: the table is emptied before each load anyway.
            spare = batch.first_serial + cards + 1_000
            _truncate_cards()
            floor = _floor(batch_id, spare, cards, chunk)
            floors.append(floor)
            print(
                f"floor: {floor['generate']:.2f} s + {floor['copy']:.2f} s = "
                f"{floor['generate'] + floor['copy']:.2f} s; this round's project / floor "
                f"{project.seconds / (floor['generate'] + floor['copy']):.2f}",
                flush=True,
            )
        plain_seconds = _plain(batch_id, spare, plain_cards)

    project = min(projects, key=lambda run: run.seconds)
    generate = min(f["generate"] for f in floors)
    copy = min(f["copy"] for f in floors)
    floor_seconds = generate + copy
    plain_us = plain_seconds / plain_cards * 1e6
    project_us = project.seconds / cards * 1e6
    peak_rss_mb = max(run.peak_rss_mb for run in projects)
    problems = [problem for run in projects for problem in run.problems]
    print(
        f"project (best of {len(projects)}): {project.seconds:.2f} s = "
        f"{cards / project.seconds:,.0f} cards/s; floor (best generation + best COPY): "
        f"{generate:.2f} + {copy:.2f} = {floor_seconds:.2f} s "
        f"= {cards / floor_seconds:,.0f} cards/s"
    )
    print(
        f"plain way (existence check per code, then bulk_create): {plain_cards:,} cards in "
        f"{plain_seconds:.2f} s = {plain_us:.1f} us/card; project {project_us:.1f} us/card"
    )
    ratios = {
        "vs_floor": round(project.seconds / floor_seconds, 2),
        "speedup_vs_plain": round(plain_us / project_us, 1),
    }
    report = {
        "benchmark": "issuance",
        "figures": {
            "cards": cards,
            "project_seconds": round(project.seconds, 2),
            "project_cards_per_s": round(cards / project.seconds),
            "floor_seconds": round(floor_seconds, 2),
            "floor_generate_seconds": round(generate, 2),
            "floor_copy_seconds": round(copy, 2),
            "floor_cards_per_s": round(cards / floor_seconds),
            "plain_cards": plain_cards,
            "plain_us_per_card": round(plain_us, 1),
            "project_us_per_card": round(project_us, 2),
            "worker_peak_rss_mb": round(peak_rss_mb, 1),
            "worker_tree_peak_rss_mb": round(max(r.tree_peak_rss_mb for r in projects), 1),
            "worker_processes": args.concurrency,
            "chunk_size": chunk,
            "rounds": len(projects),
        },
        "ratios": ratios,
        "targets": TARGETS,
    }
    measured = {"vs_floor": ratios["vs_floor"], "worker_peak_rss_mb": round(peak_rss_mb)}
    met = {"vs_floor": measured["vs_floor"] <= 1.5, "worker_peak_rss_mb": peak_rss_mb < 300}
    for key, target in TARGETS.items():
        print(f"target {key} {target}: {'met' if met[key] else 'NOT met'} ({measured[key]})")
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
