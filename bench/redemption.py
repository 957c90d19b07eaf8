"""Redemptions and balance checks at the merchant API: per second, p50 and p99, with 16 clients on
distinct cards and on one hot card, through the service in-process and through HTTP under
gunicorn, against the floor in plain SQL and the cheapest authenticated request, in one run.

    python -m bench redemption [--scale S] [--requests R] [--clients C] [--workers W]

Runs on its own throwaway PostgreSQL database (created, migrated, dropped at the end) and the real
Redis under a key prefix of its own (deleted at the end). A table of 1,000,000 cards (``--scale``
multiplies it) is loaded with the issuance engine's binary ``COPY`` rows from
``codes.generate_block``, two processes; the codes of the cards to be spent are revealed from
their ciphertext (``codes.reveal``) and kept in this process and its clients only. A merchant
and its key (``merchant_key_create``), and a buyer's API key for the baseline, are made through
the services.

Each phase: ``C`` client processes (16) start together on ``R`` requests (1,600), each client its
own share; a client is a process forked from a server that set Django up once, warmed up with a
few untimed requests of its own kind. The figure is requests ÷ the wall time from the start signal
to the last client's end; latency p50/p99 is per request, as the client saw it.

- ``service``: ``redemption_create`` (or ``card_look_up`` for a balance) in the client process,
  with the merchant's key as its authentication returned it;
- ``floor``: the least a correct redemption does, in plain SQL over psycopg: the code's digest,
  then look the card up by digest and lock it (``FOR UPDATE``), update its balance, insert the
  card transaction, commit. For a balance: the look-up by digest;
- ``http``: ``POST /api/v1/merchant/redemptions`` with an ``Idempotency-Key`` (or ``POST
  /api/v1/merchant/balance``) to gunicorn (sync workers, ``W`` of them: 4, the README's production
  command), a new connection per request as sync workers answer;
- ``http baseline``: ``GET /api/v1/products/{id}`` with a buyer API key, under the same load and
  gunicorn: the cheapest authenticated DRF endpoint of the project (one query to authenticate the
  key, one for the product, a small body). Run before and after the HTTP phases; their mean counts.

On distinct cards every request is a different card; on one hot card all requests of a phase go to
one card (its own per redemption phase: 0.01 at a time), serialised on its row lock. The CPU time
each phase cost is sampled from ``/proc`` (clients, gunicorn workers, PostgreSQL backends) and
printed per request. The merchant API's request limits are raised for the run (its legitimate
traffic is thousands of requests a minute from one key and address); the limits on failed look-ups
are left as they are (a failure would be a bench error). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from bench.common import ROOT, Environment, throwaway_environment

CARDS = 1_000_000
REQUESTS = 1_600  # per phase: 5-80 s each on a 2-core machine; p99 is the 16th slowest
CLIENTS = 16
WORKERS = 4  # gunicorn sync workers: README's production command (``-w 4``)
WARMUP = 2  # untimed requests per client before the start signal
COPY_ROWS = 50_000  # cards per COPY and transaction while loading
AMOUNT = Decimal("12.50")  # per redemption on distinct cards (face value 100)
HOT_AMOUNT = Decimal("0.01")  # per redemption on the hot card: 10,000 fit on one card of 100
HOT_MAX_REQUESTS = 9_600
LARGE = "900000000000.00"
UNLIMITED = "1000000000"
CLIENT_IP = "127.0.0.1"
_FORKSERVER_FLAG = "BENCH_REDEMPTION_FORKSERVER"

TARGETS = {
    # A redemption through the service costs at most twice the least a correct one does in SQL.
    "redeem_service_vs_floor": "<= 2.0",
    "redeem_service_hot_vs_floor": "<= 2.0",
    # Through HTTP, at most twice a trivial authenticated request.
    "redeem_http_vs_http_baseline": "<= 2.0",
    "redeem_http_hot_vs_http_baseline": "<= 2.0",
    "redeem_http_p99_ms": "< 50",
    # Balance checks, the same.
    "balance_service_vs_floor": "<= 2.0",
    "balance_service_hot_vs_floor": "<= 2.0",
    "balance_http_vs_http_baseline": "<= 2.0",
    "balance_http_hot_vs_http_baseline": "<= 2.0",
    "balance_http_p99_ms": "< 50",
}


# --- The throwaway database, broker keys and settings --------------------------------------------


def _settings(env: Environment) -> dict[str, str]:
    """The run's own settings, inherited by the clients and gunicorn."""
    return {
        # The 1,000,000-card order is funded without review.
        "ORDER_PLATFORM_LIMIT": LARGE,
        "ORDER_VELOCITY_MAX_VALUE": LARGE,
        # Requests per window (60 s) per key, merchant and address: the defaults (1,200 per key
        # and per address) would answer 429 within a minute of this traffic (tens to hundreds of
        # requests a second, all from one key and 127.0.0.1). The limits on failed look-ups stay
        # as they are: no legitimate request fails one.
        "MERCHANT_RATE_PER_KEY": UNLIMITED,
        "MERCHANT_RATE_PER_MERCHANT": UNLIMITED,
        "MERCHANT_RATE_PER_IP": UNLIMITED,
        # The baseline's buyer key reads as fast as the load goes: past 600 reads a minute it
        # would get 429s (portal/api/rate_limits.py). It is still counted (one Redis round trip,
        # as in production).
        "API_RATE_LIMIT_READ": UNLIMITED,
        # Off in production (PORTAL_ENV=production) and so here: a debugging check of the lock
        # order of money rows.
        "MONEY_LOCK_ORDER_CHECK": "false",
        _FORKSERVER_FLAG: "1",
    }


# --- The cards -----------------------------------------------------------------------------------


@dataclass
class Setup:
    batches: list[tuple[int, int, int]]  # (batch id, first serial number, quantity)
    merchant_id: int
    merchant_key: str  # plaintext: in this process and its clients only
    buyer_key: str
    product_id: str  # the baseline's product (public id)


def _prepare(cards: int) -> Setup:
    """A funded order of ``cards`` bearer cards of 100 and its batches (through the services,
    as the issuance benchmark prepares it), a merchant with a key for balances and redemptions,
    and a purchaser's API key."""
    from django.db import transaction

    from bench.issuance import _prepare_buyer, _prepare_order
    from cards.models import Merchant, Order
    from cards.services.issuance import batches_create
    from cards.services.spend import merchant_key_create, merchant_save
    from portal.models import User
    from portal.services.api_keys import api_key_create

    buyer = _prepare_buyer()
    order = Order.objects.get(pk=_prepare_order(buyer, cards))
    with transaction.atomic():
        batches = batches_create(order)
    operator = User.objects.create_user(email="operator@bench.example", is_staff=True)
    merchant = merchant_save(
        merchant=Merchant(
            name="基准超市",
            settlement_account_name="基准超市有限公司",
            settlement_bank="中国银行上海分行",
            settlement_account_number="6216 6100 0000 0001",
        ),
        changed=[],
        actor=operator,
    )
    _key, merchant_key = merchant_key_create(
        merchant=merchant, name="bench checkout", scopes=["balance", "redeem"], actor=operator
    )
    _buyer_key, buyer_key = api_key_create(
        company=buyer.company, user=buyer.purchaser, name="bench", scopes=["orders:read"]
    )
    return Setup(
        batches=[(b.pk, b.first_serial, b.quantity) for b in batches],
        merchant_id=merchant.pk,
        merchant_key=merchant_key,
        buyer_key=buyer_key,
        product_id=str(buyer.product.public_id),
    )


def _load_part(batch_id: int, first: int, count: int, ready: Any, go: Event, out: Any) -> None:
    """Generate and ``COPY`` ``count`` cards of a batch from serial number ``first``, as the
    issuance engine writes them, ``COPY_ROWS`` per transaction."""
    from django.db import connection, connections, transaction
    from django.utils import timezone

    from cards import card_copy, codes
    from cards.models import Batch
    from cards.services.issuance import COPY_BLOCK
    from portal import crypto

    try:
        batch = Batch.objects.get(pk=batch_id)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        ready.put(f"{type(exc).__name__}: {exc}")
        return
    ready.put("")
    go.wait()
    started = time.perf_counter()
    try:
        key_id = crypto.current_key_id()
        with connection.cursor() as cursor:
            row = card_copy.copy_row_format(cursor.cursor, batch, key_id, timezone.now())
        for offset in range(0, count, COPY_ROWS):
            end = min(offset + COPY_ROWS, count)
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(card_copy.COPY_SQL) as copy,
            ):
                copy.write(card_copy.COPY_SIGNATURE)
                for sub in range(offset, end, COPY_BLOCK):
                    block = codes.generate_block(first + sub, min(COPY_BLOCK, end - sub))
                    columns = zip(
                        block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
                    )
                    copy.write(b"".join([row % (s.to_bytes(8), d, c, f) for s, d, c, f in columns]))
                copy.write(card_copy.COPY_TRAILER)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")
        return
    finally:
        connections.close_all()
    out.put((started, time.perf_counter()))


def _load_cards(setup: Setup) -> float:
    """Every batch's cards, in two processes; returns the wall time."""
    from django.db import connection

    from bench.issuance import _in_processes
    from cards.models import Batch, BatchStatus

    parts = []
    for batch_id, first, quantity in setup.batches:
        half = quantity // 2
        parts += [(batch_id, first, half), (batch_id, first + half, quantity - half)]
    seconds = 0.0
    for k in range(0, len(parts), 2):
        seconds += _in_processes(_load_part, parts[k : k + 2], 3600)
    for batch_id, _first, quantity in setup.batches:
        Batch.objects.filter(pk=batch_id).update(status=BatchStatus.READY, generated=quantity)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cards_card")
        with contextlib.suppress(Exception):
            cursor.execute("CHECKPOINT")
    return seconds


def _codes_of(card_ids: list[int]) -> list[str]:
    """The codes of these cards, as a checkout types them (ABCDE-FGHJK-...), in this order."""
    from cards import codes
    from cards.models import Card

    found = {
        card.pk: codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        for card in Card.objects.filter(pk__in=card_ids).only(
            "id", "serial", "key_id", "ciphertext"
        )
    }
    return [found[pk] for pk in card_ids]


# --- The clients ---------------------------------------------------------------------------------


@dataclass
class Context:
    """What every client needs: the keys, the server and the merchant."""

    merchant_key: str
    buyer_key: str
    product_id: str
    merchant_id: int
    port: int
    database_url: str


@dataclass
class ClientResult:
    done: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this client process, from the start signal to its end


Work = Callable[[list[str], Context, ClientResult | None], None]


def _timed(result: ClientResult | None, started: float, error: str | None) -> None:
    if result is None:
        if error:
            raise RuntimeError(error)
        return
    if error:
        result.errors[error] += 1
        return
    result.latencies.append(time.perf_counter() - started)
    result.done += 1


def _merchant_key(ctx: Context) -> Any:
    """The merchant's key as the API's authentication finds it (with its merchant)."""
    from cards.services.spend import merchant_key_authenticate

    key = merchant_key_authenticate(ctx.merchant_key)
    if key is None:
        raise RuntimeError("the merchant key does not authenticate")
    return key


def _redeem_service(items: list[str], ctx: Context, result: ClientResult | None) -> None:
    from cards.services.spend import redemption_create

    key = _merchant_key(ctx)
    amount = Decimal(items[0].split("|")[0]) if items else AMOUNT
    for item in items:
        code = item.split("|", 1)[1]
        started = time.perf_counter()
        error = None
        try:
            spent = redemption_create(
                key=key,
                code=code,
                amount=amount,
                merchant_reference=f"POS-{uuid.uuid4().hex[:12]}",
                idempotency_key=str(uuid.uuid4()),
                ip=CLIENT_IP,
            )
            if spent.replayed:
                error = "replayed"
        except Exception as exc:  # noqa: BLE001 - counted; the run fails
            error = f"{type(exc).__name__}: {str(exc)[:120]}"
        _timed(result, started, error)


def _balance_service(items: list[str], ctx: Context, result: ClientResult | None) -> None:
    from cards.models import MerchantLookupFailure
    from cards.services.spend import card_look_up

    key = _merchant_key(ctx)
    for item in items:
        code = item.split("|", 1)[1]
        started = time.perf_counter()
        error = None
        try:
            card_look_up(
                key=key, code=code, endpoint=MerchantLookupFailure.Endpoint.BALANCE, ip=CLIENT_IP
            )
        except Exception as exc:  # noqa: BLE001 - counted; the run fails
            error = f"{type(exc).__name__}: {str(exc)[:120]}"
        _timed(result, started, error)


# The floor's SQL. The look-up and the lock are one statement: the card's row by its digest (the
# unique index), FOR UPDATE; then what a correct redemption must write: the balance (and status)
# and the card transaction with the balance after and the merchant's namespaced Idempotency-Key.
_FLOOR_LOCK = (
    "SELECT id, balance, held, status, expires_at, is_canary FROM cards_card "
    "WHERE digest = %s FOR UPDATE"
)
_FLOOR_UPDATE = (
    "UPDATE cards_card SET balance = %s, status = %s, last_activity_at = %s WHERE id = %s"
)
_FLOOR_INSERT = (
    "INSERT INTO cards_cardtransaction (public_id, card_id, merchant_id, kind, amount, "
    "balance_after, merchant_reference, idempotency_key, request_digest, reason, created_at) "
    "VALUES (%s, %s, %s, 'redeem', %s, %s, %s, %s, '', '', %s)"
)
_FLOOR_LOOK_UP = (
    "SELECT id, balance, held, status, expires_at, is_canary FROM cards_card WHERE digest = %s"
)


def _floor_usable(row: Any, now: Any) -> str | None:
    if row is None:
        return "no card"
    _id, _balance, _held, status, expires_at, is_canary = row
    if is_canary or status not in ("active", "depleted"):
        return f"card {status}"
    if expires_at is not None and expires_at <= now:
        return "card expired"
    return None


_floor_connection: Any = None


def _psycopg_connection(ctx: Context) -> Any:
    """The client's one connection (kept from the warm-up to the end, as a pool would)."""
    global _floor_connection
    if _floor_connection is None:
        import psycopg

        url = ctx.database_url.replace("postgres://", "postgresql://", 1)
        _floor_connection = psycopg.connect(url, autocommit=True)
    return _floor_connection


def _redeem_floor(items: list[str], ctx: Context, result: ClientResult | None) -> None:
    import datetime

    from cards import codes

    conn = _psycopg_connection(ctx)
    for item in items:
        raw_amount, code = item.split("|", 1)
        amount = Decimal(raw_amount)
        started = time.perf_counter()
        error = None
        try:
            digest = codes.code_digest(codes.normalize_code(code))
            now = datetime.datetime.now(datetime.UTC)
            with conn.transaction(), conn.cursor() as cur:
                row = cur.execute(_FLOOR_LOCK, [digest]).fetchone()
                error = _floor_usable(row, now)
                if error is None:
                    card_id, balance, held = row[0], row[1], row[2]
                    if balance - held < amount:
                        error = "insufficient balance"
                    else:
                        after = balance - amount
                        status = "depleted" if after == 0 else "active"
                        cur.execute(_FLOOR_UPDATE, [after, status, now, card_id])
                        cur.execute(
                            _FLOOR_INSERT,
                            [
                                uuid.uuid4(),
                                card_id,
                                ctx.merchant_id,
                                -amount,
                                after,
                                f"POS-{uuid.uuid4().hex[:12]}",
                                f"m{ctx.merchant_id}:{uuid.uuid4()}",
                                now,
                            ],
                        )
        except Exception as exc:  # noqa: BLE001 - counted; the run fails
            error = f"{type(exc).__name__}: {str(exc)[:120]}"
        _timed(result, started, error)


def _balance_floor(items: list[str], ctx: Context, result: ClientResult | None) -> None:
    import datetime

    from cards import codes

    conn = _psycopg_connection(ctx)
    for item in items:
        code = item.split("|", 1)[1]
        started = time.perf_counter()
        error = None
        try:
            digest = codes.code_digest(codes.normalize_code(code))
            row = conn.execute(_FLOOR_LOOK_UP, [digest]).fetchone()
            error = _floor_usable(row, datetime.datetime.now(datetime.UTC))
        except Exception as exc:  # noqa: BLE001 - counted; the run fails
            error = f"{type(exc).__name__}: {str(exc)[:120]}"
        _timed(result, started, error)


def _http_request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    expect: int,
) -> str | None:
    """One request; None when answered ``expect``, else what went wrong."""
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.will_close:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return f"{type(exc).__name__}: {exc}"
    if response.status != expect:
        try:
            code = json.loads(payload).get("code", "")
        except ValueError:
            code = payload[:80].decode(errors="replace")
        return f"HTTP {response.status} {code}"
    return None


def _merchant_http(path: str, expect: int, *, redeem: bool) -> Work:
    def work(items: list[str], ctx: Context, result: ClientResult | None) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ctx.port, timeout=60)
        headers = {
            "Authorization": f"Bearer {ctx.merchant_key}",
            "Content-Type": "application/json",
            "Accept-Language": "en",
        }
        for item in items:
            amount, code = item.split("|", 1)
            body: dict[str, str] = {"code": code}
            if redeem:
                body |= {"amount": amount, "merchant_reference": f"POS-{uuid.uuid4().hex[:12]}"}
                headers["Idempotency-Key"] = str(uuid.uuid4())
            data = json.dumps(body).encode()
            started = time.perf_counter()
            error = _http_request(conn, "POST", path, headers, data, expect)
            _timed(result, started, error)
        conn.close()

    return work


def _baseline_http(items: list[str], ctx: Context, result: ClientResult | None) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", ctx.port, timeout=60)
    headers = {"Authorization": f"Bearer {ctx.buyer_key}", "Accept-Language": "en"}
    path = f"/api/v1/products/{ctx.product_id}"
    for _item in items:
        started = time.perf_counter()
        error = _http_request(conn, "GET", path, headers, None, 200)
        _timed(result, started, error)
    conn.close()


REDEEM_PATH = "/api/v1/merchant/redemptions"
BALANCE_PATH = "/api/v1/merchant/balance"
_MODES: dict[str, Work] = {
    "redeem_service": _redeem_service,
    "redeem_floor": _redeem_floor,
    "redeem_http": _merchant_http(REDEEM_PATH, 201, redeem=True),
    "balance_service": _balance_service,
    "balance_floor": _balance_floor,
    "balance_http": _merchant_http(BALANCE_PATH, 200, redeem=False),
    "baseline_http": _baseline_http,
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client(
    mode: str,
    ctx: Context,
    warmup: list[str],
    items: list[str],
    ready: Any,
    go: Event,
    out: Any,
    release: Event,
) -> None:
    """One client: a few untimed requests (imports, connections), then ready; at the start
    signal its share; then it waits for the parent to sample the CPU before it closes its
    connections and ends."""
    work = _MODES[mode]
    result = ClientResult()
    try:
        try:
            work(warmup, ctx, None)
        except Exception as exc:
            ready.put(f"{type(exc).__name__}: {exc}")
            raise
        ready.put("")
        go.wait()
        cpu = _cpu_seconds()
        try:
            work(items, ctx, result)
        except Exception as exc:  # noqa: BLE001 - counted; the parent fails the run
            result.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
        result.cpu_seconds = _cpu_seconds() - cpu
    finally:
        out.put(result)
        release.wait(120)
        from django.db import connections

        connections.close_all()
        if _floor_connection is not None:
            _floor_connection.close()


# --- Phases --------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int
    done: int
    seconds: float
    errors: Counter[str]
    latencies: list[float]
    cpu_ms: dict[str, float]  # per request: clients, web (gunicorn workers), PostgreSQL

    @property
    def per_s(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_ms.values())

    def percentile_ms(self, fraction: float) -> float:
        lat = sorted(self.latencies) or [0.0]
        if fraction == 0.5:
            return statistics.median(lat) * 1000
        return lat[min(len(lat) - 1, int(len(lat) * fraction))] * 1000

    def line(self) -> str:
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in self.cpu_ms.items())
        return (
            f"{self.name:<32} {self.done:>6} in {self.seconds:6.2f} s = {self.per_s:8.1f}/s   "
            f"p50 {self.percentile_ms(0.5):6.2f} ms, p99 {self.percentile_ms(0.99):6.2f} ms   "
            f"CPU ms/request: {cpu}" + (f"   errors {dict(self.errors)}" if self.errors else "")
        )


def _proc_cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuSampler:
    """CPU ticks of the gunicorn workers and of the database's backends (other than the
    parent's own), before and after a phase."""

    def __init__(self, database: str, web_pid: int | None) -> None:
        self.database = database
        self.web_pid = web_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def _backends(self) -> list[int]:
        from bench.approvals import _admin_connect

        with _admin_connect() as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = "
                "'client backend' AND pid <> pg_backend_pid()",
                [self.database],
            ).fetchall()
        return [pid for (pid,) in rows]

    def snapshot(self) -> dict[str, dict[int, int]]:
        web = _children(self.web_pid) if self.web_pid else []
        return {
            "web": {pid: _proc_cpu_ticks(pid) for pid in web},
            "postgres": {pid: _proc_cpu_ticks(pid) for pid in self._backends()},
        }

    def seconds(
        self, before: dict[str, dict[int, int]], after: dict[str, dict[int, int]]
    ) -> dict[str, float]:
        # A backend that started during the phase (a gunicorn worker's reconnect) counts whole.
        return {
            group: sum(ticks - before[group].get(pid, 0) for pid, ticks in after[group].items())
            / self.tick
            for group in after
        }


def _gather(channel: Any, procs: list[Any], what: str, timeout: float) -> list[Any]:
    """One message per client; stop early if a client process died without sending it."""
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(messages) < len(procs):
        try:
            messages.append(channel.get(timeout=1))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what}: {len(procs) - len(messages)} client(s) silent "
                    f"(exit codes {dead or 'none yet'})"
                ) from None
    return messages


def _run_phase(
    name: str,
    mode: str,
    ctx: Context,
    work: list[tuple[list[str], list[str]]],
    sampler: CpuSampler,
) -> Phase:
    """``work``: per client (warm-up items, timed items); an item is "amount|code"."""
    mpc = mp.get_context("forkserver")
    mpc.set_forkserver_preload([__name__])
    ready, go, out, release = mpc.Queue(), mpc.Event(), mpc.Queue(), mpc.Event()
    procs = [
        mpc.Process(
            target=_client,
            args=(mode, ctx, warmup, items, ready, go, out, release),
            daemon=True,
        )
        for warmup, items in work
    ]
    for proc in procs:
        proc.start()
    try:
        failures = [m for m in _gather(ready, procs, f"{name}, warm-up", 600) if m]
        if failures:
            raise RuntimeError(f"{name}: warm-up failed: {failures[0]}")
        before = sampler.snapshot()
        started = time.perf_counter()
        go.set()
        results: list[ClientResult] = _gather(out, procs, name, 3600)
        seconds = time.perf_counter() - started
        after = sampler.snapshot()
    finally:
        release.set()
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    requests = sum(len(items) for _warmup, items in work)
    done = sum(r.done for r in results) or 1
    used = sampler.seconds(before, after)
    cpu_ms = {"clients": sum(r.cpu_seconds for r in results) / done * 1000}
    if mode.endswith("_http"):
        cpu_ms["web"] = used["web"] / done * 1000
    cpu_ms["postgres"] = used["postgres"] / done * 1000
    phase = Phase(
        name=name,
        requests=requests,
        done=sum(r.done for r in results),
        seconds=seconds,
        errors=sum((r.errors for r in results), Counter()),
        latencies=[x for r in results for x in r.latencies],
        cpu_ms=cpu_ms,
    )
    print(phase.line(), flush=True)
    return phase


# --- gunicorn ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _gunicorn_command() -> list[str]:
    beside = Path(sys.executable).parent / "gunicorn"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "gunicorn"]


@contextlib.contextmanager
def _gunicorn(work_dir: Path, workers: int, ctx: Context) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn as production runs it (sync workers), on a free local port, answering the
    baseline before it is handed over."""
    log_path = work_dir / "gunicorn.log"
    command = [
        *_gunicorn_command(),
        "portal.wsgi:application",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{ctx.port}",
        "--timeout",
        "300",
        "--log-level",
        "warning",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(RuntimeError, OSError):
                _baseline_http(["-"], ctx, None)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        print(f"gunicorn: {' '.join(command[-9:])} (pid {proc.pid})", flush=True)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()  # graceful: the workers finish their request
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _warm_web(ctx: Context, balance_code: str, workers: int) -> None:
    """Each gunicorn worker's first requests import the views and open its connections: many
    concurrent requests until every worker has answered several."""
    balance = _merchant_http(BALANCE_PATH, 200, redeem=False)
    jobs = workers * 16
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _k: _baseline_http(["-"], ctx, None), range(jobs)))
        list(pool.map(lambda _k: balance([f"0|{balance_code}"], ctx, None), range(jobs)))


# --- Checks after the run ------------------------------------------------------------------------


def _card_liability() -> Decimal:
    """The card liability's postings: credits (issuance) negative, redemptions positive."""
    from django.db.models import Sum

    from billing.models import Account, Posting
    from billing.money import ZERO

    total = Posting.objects.filter(account__kind=Account.Kind.CARD_LIABILITY).aggregate(
        t=Sum("amount")
    )["t"]
    return total or ZERO


def _verify(
    merchant_id: int, distinct: dict[str, list[str]], hot: dict[str, str], ledgered: Decimal
) -> list[str]:
    """Every redemption wrote its card transaction and balance; the ledger balances and holds
    the redemptions made through the service and the API; no look-up failed."""
    from django.db import connection
    from django.db.models import Sum

    from billing.models import Posting
    from billing.money import ZERO
    from cards import codes
    from cards.models import Card, CardTransaction, MerchantApiKey, MerchantLookupFailure

    problems = []
    for phase, items in distinct.items():
        digests = [codes.code_digest(codes.normalize_code(code)) for code in items]
        cards = Card.objects.filter(digest__in=digests)
        redeemed = cards.filter(balance=Decimal("100") - AMOUNT, transactions__kind="redeem")
        if redeemed.count() != len(items):
            problems.append(f"{phase}: {redeemed.count()} of {len(items)} cards redeemed once")
    for phase, item in hot.items():
        card = Card.objects.get(digest=codes.code_digest(codes.normalize_code(item)))
        count = card.transactions.count()
        if card.balance != Decimal("100") - HOT_AMOUNT * count:
            problems.append(f"{phase}: hot card balance {card.balance} after {count} redemptions")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cards_card c JOIN (SELECT card_id, sum(amount) s FROM "
            "cards_cardtransaction GROUP BY card_id) t ON t.card_id = c.id "
            "WHERE c.balance <> c.face_value + t.s"
        )
        row = cursor.fetchone()
    if row and row[0]:
        problems.append(f"{row[0]} cards whose balance is not face value + transactions")
    if (Posting.objects.aggregate(t=Sum("amount"))["t"] or ZERO) != ZERO:
        problems.append("postings do not sum to zero")
    liability = _card_liability()
    if liability != ledgered:
        problems.append(f"card liability postings {liability}, expected {ledgered}")
    spent = -(
        CardTransaction.objects.filter(merchant_id=merchant_id).aggregate(t=Sum("amount"))["t"]
        or ZERO
    )
    print(f"checks: {spent} CNY redeemed in all")
    if MerchantLookupFailure.objects.exists():
        problems.append(f"{MerchantLookupFailure.objects.count()} failed look-ups")
    if MerchantApiKey.objects.filter(frozen_at__isnull=False).exists():
        problems.append("the merchant key was frozen")
    return problems


# --- Main ---------------------------------------------------------------------------------------


def _shares(items: list[str], clients: int, warm: int) -> list[tuple[list[str], list[str]]]:
    """Per client: ``warm`` warm-up items (taken first), then its share of the rest."""
    warmups = [items[k * warm : (k + 1) * warm] for k in range(clients)]
    rest = items[clients * warm :]
    return [(warmups[k], rest[k::clients]) for k in range(clients)]


def _ratio(numerator: float, denominator: float) -> float:
    """How many times the reference's cost: the reference's rate ÷ the rate, or the CPU time
    ÷ the reference's."""
    return round(numerator / denominator, 2) if denominator else 0.0


def _met(value: float, target: str) -> bool:
    op, number = target.split()
    return value <= float(number) if op == "<=" else value < float(number)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench redemption", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the card count")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per phase")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn sync workers")
    args = parser.parse_args(argv)
    clients = max(1, args.clients)
    cards = max(1_000, round(CARDS * args.scale))
    # Six phases on distinct cards, each its own cards and warm-ups, four hot cards and probes.
    spare = 16
    fit = (cards - spare) // 6 - clients * WARMUP
    requests = min(args.requests, fit, HOT_MAX_REQUESTS)
    requests = max(clients, requests // clients * clients)
    if fit < requests:
        raise SystemExit(f"{cards} cards are too few for {requests} requests per phase")

    with throwaway_environment("redemption", _settings) as env:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.db.models import Max, Min
        from django.test.utils import CaptureQueriesContext

        from cards.models import Card

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()
        print(
            f"database {env.database} migrated in {time.perf_counter() - started:.1f} s; "
            f"Redis {env.redis_url} (prefix {env.prefix}); "
            f"{version[0].split(' on ')[0] if version else 'PostgreSQL'}; {os.cpu_count()} CPUs; "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        started = time.perf_counter()
        setup = _prepare(cards)
        liability_before = _card_liability()
        load_seconds = _load_cards(setup)
        print(
            f"{cards:,} cards of 100 CNY loaded (binary COPY, 2 processes) in "
            f"{load_seconds:.1f} s; prepared in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        # Cards to spend, spread over the whole table; their codes stay in this process tree.
        bounds = Card.objects.aggregate(low=Min("pk"), high=Max("pk"))
        low, high = bounds["low"], bounds["high"]
        per_set = requests + clients * WARMUP
        picked = random.sample(range(low, high + 1), 6 * per_set + spare)
        all_codes = _codes_of(picked)
        sets = [all_codes[k * per_set : (k + 1) * per_set] for k in range(6)]
        hot_codes = all_codes[6 * per_set : 6 * per_set + 4]
        probes = all_codes[6 * per_set + 4 :]
        connection.close()
        ctx = Context(
            merchant_key=setup.merchant_key,
            buyer_key=setup.buyer_key,
            product_id=setup.product_id,
            merchant_id=setup.merchant_id,
            port=_free_port(),
            database_url=os.environ["DATABASE_URL"],
        )

        # What one request asks of the database (the first call of each warms the caches).
        from cards.models import MerchantLookupFailure
        from cards.services.spend import card_look_up, merchant_key_authenticate, redemption_create

        key = merchant_key_authenticate(setup.merchant_key)
        assert key is not None
        queries = {}
        for label, call in (
            (
                "redemption",
                lambda code: redemption_create(
                    key=key,
                    code=code,
                    amount=AMOUNT,
                    merchant_reference="POS-probe",
                    idempotency_key=str(uuid.uuid4()),
                    ip=CLIENT_IP,
                ),
            ),
            (
                "balance",
                lambda code: card_look_up(
                    key=key,
                    code=code,
                    endpoint=MerchantLookupFailure.Endpoint.BALANCE,
                    ip=CLIENT_IP,
                ),
            ),
        ):
            call(probes.pop())
            with CaptureQueriesContext(connection) as captured:
                call(probes.pop())
            queries[label] = len(captured.captured_queries)
        connection.close()
        print(
            f"SQL statements per call: redemption_create {queries['redemption']}, "
            f"card_look_up {queries['balance']} (BEGIN, COMMIT and savepoints included); floor: "
            "redemption 5 (BEGIN, 3, COMMIT), balance 1",
            flush=True,
        )
        ledgered = liability_before + 2 * AMOUNT  # the two probes above

        sampler = CpuSampler(env.database, None)
        amount, hot = f"{AMOUNT}", f"{HOT_AMOUNT}"

        def distinct(codes_: list[str]) -> list[tuple[list[str], list[str]]]:
            return _shares([f"{amount}|{c}" for c in codes_], clients, WARMUP)

        def one_card(code: str, unit: str) -> list[tuple[list[str], list[str]]]:
            return _shares([f"{unit}|{code}"] * per_set, clients, WARMUP)

        print(
            f"{clients} clients, {requests} requests per phase (+{WARMUP} untimed per client); "
            f"redemptions of {amount} on distinct cards, {hot} on a hot card",
            flush=True,
        )
        phases: dict[str, Phase] = {}
        plan = [
            ("redeem_floor", "redeem floor, distinct", "redeem_floor", distinct(sets[0])),
            ("redeem_service", "redeem service, distinct", "redeem_service", distinct(sets[1])),
            (
                "redeem_floor_hot",
                "redeem floor, hot card",
                "redeem_floor",
                one_card(hot_codes[0], hot),
            ),
            (
                "redeem_service_hot",
                "redeem service, hot card",
                "redeem_service",
                one_card(hot_codes[1], hot),
            ),
            ("balance_floor", "balance floor, distinct", "balance_floor", distinct(sets[2])),
            ("balance_service", "balance service, distinct", "balance_service", distinct(sets[3])),
            (
                "balance_floor_hot",
                "balance floor, hot card",
                "balance_floor",
                one_card(hot_codes[3], hot),
            ),
            (
                "balance_service_hot",
                "balance service, hot card",
                "balance_service",
                one_card(hot_codes[3], hot),
            ),
        ]
        for key_name, label, mode, work in plan:
            phases[key_name] = _run_phase(label, mode, ctx, work, sampler)

        with _gunicorn(env.work_dir, args.workers, ctx) as web:
            sampler = CpuSampler(env.database, web.pid)
            _warm_web(ctx, probes[0], args.workers)
            baseline_work = [
                ([f"-|{k}"] * WARMUP, [f"-|{k}"] * (requests // clients)) for k in range(clients)
            ]
            http_plan = [
                ("http_baseline_1", "http baseline (GET product)", "baseline_http", baseline_work),
                ("redeem_http", "redeem http, distinct", "redeem_http", distinct(sets[4])),
                (
                    "redeem_http_hot",
                    "redeem http, hot card",
                    "redeem_http",
                    one_card(hot_codes[2], hot),
                ),
                ("balance_http", "balance http, distinct", "balance_http", distinct(sets[5])),
                (
                    "balance_http_hot",
                    "balance http, hot card",
                    "balance_http",
                    one_card(hot_codes[3], hot),
                ),
                ("http_baseline_2", "http baseline again", "baseline_http", baseline_work),
            ]
            for key_name, label, mode, work in http_plan:
                phases[key_name] = _run_phase(label, mode, ctx, work, sampler)
        for name in ("redeem_service", "redeem_http"):
            ledgered += AMOUNT * (phases[name].done + clients * WARMUP)
        for name in ("redeem_service_hot", "redeem_http_hot"):
            ledgered += HOT_AMOUNT * (phases[name].done + clients * WARMUP)

        problems = [
            f"{p.name}: {p.done} of {p.requests} done, errors {dict(p.errors)}"
            for p in phases.values()
            if p.done != p.requests or p.errors
        ]
        problems += _verify(
            setup.merchant_id,
            {"redeem floor": sets[0], "redeem service": sets[1], "redeem http": sets[4]},
            {
                "redeem floor, hot": hot_codes[0],
                "redeem service, hot": hot_codes[1],
                "redeem http, hot": hot_codes[2],
            },
            ledgered,
        )
        connection.close()
        print(
            "checks: "
            + (
                "; ".join(problems)
                if problems
                else "every request answered as expected, each distinct card redeemed once, hot "
                "cards' balances = face value - redemptions, balances = face value + "
                "transactions, ledger balanced and holding every redemption made through the "
                "service and the API, no failed look-up, key not frozen"
            ),
            flush=True,
        )

    b1, b2 = phases.pop("http_baseline_1"), phases.pop("http_baseline_2")
    baseline = Phase(
        name="http baseline",
        requests=b1.requests + b2.requests,
        done=b1.done + b2.done,
        seconds=b1.seconds + b2.seconds,
        errors=b1.errors + b2.errors,
        latencies=b1.latencies + b2.latencies,
        cpu_ms={k: (b1.cpu_ms[k] + b2.cpu_ms[k]) / 2 for k in b1.cpu_ms},
    )
    baseline_per_s = (b1.per_s + b2.per_s) / 2
    figures: dict[str, Any] = {
        "cards": cards,
        "clients": clients,
        "requests_per_phase": requests,
        "gunicorn_workers": args.workers,
        "load_seconds": round(load_seconds, 1),
        "sql_per_redemption": queries["redemption"],
        "sql_per_balance": queries["balance"],
    }
    for name, phase in phases.items():
        figures[f"{name}_per_s"] = round(phase.per_s, 1)
        figures[f"{name}_p50_ms"] = round(phase.percentile_ms(0.5), 2)
        figures[f"{name}_p99_ms"] = round(phase.percentile_ms(0.99), 2)
    figures["http_baseline_per_s"] = round(baseline_per_s, 1)
    figures["http_baseline_runs_per_s"] = [round(b1.per_s, 1), round(b2.per_s, 1)]
    figures["http_baseline_p50_ms"] = round(baseline.percentile_ms(0.5), 2)
    figures["http_baseline_p99_ms"] = round(baseline.percentile_ms(0.99), 2)
    figures["cpu_ms_per_request"] = {
        name: {k: round(v, 2) for k, v in phase.cpu_ms.items()}
        for name, phase in [*phases.items(), ("http_baseline", baseline)]
    }
    ratios: dict[str, float] = {}
    for op in ("redeem", "balance"):
        for suffix in ("", "_hot"):
            ratios[f"{op}_service{suffix}_vs_floor"] = _ratio(
                phases[f"{op}_floor{suffix}"].per_s, phases[f"{op}_service{suffix}"].per_s
            )
            ratios[f"{op}_http{suffix}_vs_http_baseline"] = _ratio(
                baseline_per_s, phases[f"{op}_http{suffix}"].per_s
            )
        ratios[f"{op}_http_p99_ms"] = figures[f"{op}_http_p99_ms"]
    # The same comparisons by CPU time per request (every process of the phase, PostgreSQL
    # included): steadier than rates on a machine others share, and what rates come to on a
    # quiet one where the phase saturates the cores. No targets: for reading only.
    for op in ("redeem", "balance"):
        ratios[f"{op}_service_vs_floor_cpu"] = _ratio(
            phases[f"{op}_service"].cpu_total, phases[f"{op}_floor"].cpu_total
        )
        ratios[f"{op}_http_vs_http_baseline_cpu"] = _ratio(
            phases[f"{op}_http"].cpu_total, baseline.cpu_total
        )
    print(
        f"{'http baseline (mean of 2)':<32} {baseline.done:>6} in {baseline.seconds:6.2f} s = "
        f"{baseline_per_s:8.1f}/s   p50 {baseline.percentile_ms(0.5):6.2f} ms, "
        f"p99 {baseline.percentile_ms(0.99):6.2f} ms"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for key_name, target in TARGETS.items():
        value = ratios[key_name]
        print(
            f"target {key_name} {target}: {'met' if _met(value, target) else 'NOT met'} ({value})"
        )
    report = {"benchmark": "redemption", "figures": figures, "ratios": ratios, "targets": TARGETS}
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


# The fork server of the client processes imports this module with the flag set: it sets Django up
# once, before any connection exists, and every client forks from it ready to work.
if os.environ.get(_FORKSERVER_FLAG) == "1":
    import django

    django.setup()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
