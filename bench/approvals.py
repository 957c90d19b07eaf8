"""Credit-order approvals per second: one client, then 16 clients against one credit line and
against 16 lines.

    python -m bench approvals [--scale S] [--clients C]

Runs on its own throwaway PostgreSQL database (created, migrated, dropped at the end) and on the
real Redis broker under a key prefix of its own (deleted at the end). Orders are prepared before
the clock starts: per company one order goes through ``order_create`` and ``order_submit``, and
the rest are copies of it (same lines, fresh numbers), all waiting for approval. What is timed is
``order_approve`` alone, as a view or an API call runs it: lock the order, lock the credit line,
re-check credit, issue the invoice with a gapless number, post the ledger, audit, mark funded and
queue the hand-off task on commit. Every client is a separate process (no shared GIL) with its own
connection. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import queue
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.synchronize import Event
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Orders per phase at --scale 1.0: about 5-10 s of approving per phase on a 2-core machine.
ORDERS_PER_PHASE = 320
CLIENTS = 16
DB_PREFIX = "bench_approvals_"
_FORKSERVER_FLAG = "BENCH_APPROVALS_FORKSERVER"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CREDIT_LIMIT = "900000000.00"  # no approval may be refused for credit
APPROVAL_THRESHOLD = "1000.00"
# One order: 20 cards of 100 and 10 of 200, at a 2.5% discount: 3,900.00 (under the real-name
# registration threshold, over the approval threshold); the invoice has two lines and the ledger
# entry three postings (receivable, card liability, discounts).
ORDER_LINES = (("100", 20), ("200", 10))
DISCOUNT_RATE = "2.50"

TARGETS = {
    # 16 clients on 16 lines must not be slower than one client. Every approval also takes the
    # one invoice-number row of the year (gapless numbers), which serialises the tail of each
    # transaction across all companies, and a 2-core machine runs the clients and PostgreSQL.
    "concurrent_vs_single": ">= 1.0",
    # One line serialises the locked part of each approval (credit check to commit) on its row
    # lock by design: the check must see the previous approval's invoice. The part before the
    # lock still overlaps; waiting on the lock must at least not cost much.
    "one_line_vs_single": ">= 0.7",
}


# --- The throwaway database and broker keys -------------------------------------------------------


def _server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin_connect() -> Any:
    import psycopg

    url = _server_url().replace("postgres://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_stale_databases() -> None:
    """Databases of runs that were killed outright (SIGKILL): no connections, process gone."""
    with _admin_connect() as conn:
        rows = conn.execute(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            [DB_PREFIX.replace("_", r"\_") + "%"],
        ).fetchall()
        for (name,) in rows:
            suffix = name.removeprefix(DB_PREFIX)
            if suffix.isdigit() and not _pid_alive(int(suffix)):
                print(f"dropping {name}, left behind by a killed run")
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _create_database(name: str) -> None:
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    with _admin_connect() as conn:
        if conn.info.server_version >= 130000:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _purge_redis(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    keys = set(client.scan_iter(match=f"{prefix}*", count=1000))
    keys |= set(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


@dataclass
class Environment:
    database: str
    redis_url: str | None
    prefix: str
    var_dir: tempfile.TemporaryDirectory[str] | None = None


def _configure(env: Environment) -> None:
    """Settings come from the environment (read once by portal.settings); the client processes
    inherit it."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_ENV": "development",
            "DEBUG": "false",  # DEBUG keeps every query in memory and slows the cursor
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": _with_database(_server_url(), env.database),
            "DB_CONN_MAX_AGE": "600",
            # Hundreds of orders a day from one company would go to operator review.
            "ORDER_VELOCITY_MAX_COUNT": "1000000000",
            "ORDER_VELOCITY_MAX_VALUE": "999999999999.00",
            _FORKSERVER_FLAG: "1",
        }
    )
    if env.redis_url:
        os.environ["REDIS_URL"] = env.redis_url
        os.environ["REDIS_KEY_PREFIX"] = env.prefix
    else:
        # No Redis: the embedded file broker, in a directory of this run's own.
        os.environ.pop("REDIS_URL", None)
        env.var_dir = tempfile.TemporaryDirectory(prefix="bench-approvals-")
        os.environ["PORTAL_VAR_DIR"] = env.var_dir.name
        os.environ["LOG_LEVEL"] = "ERROR"  # kombu warns on every publish to the file broker


@contextlib.contextmanager
def _throwaway_environment() -> Iterator[Environment]:
    pid = os.getpid()
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    env = Environment(
        database=f"{DB_PREFIX}{pid}",
        redis_url=redis_url if _redis_reachable(redis_url) else None,
        prefix=f"bench-approvals-{pid}:",
    )
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _drop_stale_databases()
    _create_database(env.database)
    try:
        _configure(env)
        yield env
    finally:
        try:
            from django.db import connections

            connections.close_all()
        finally:
            _drop_database(env.database)
            if env.redis_url:
                _purge_redis(env.redis_url, env.prefix)
            if env.var_dir is not None:
                env.var_dir.cleanup()
            os.environ.pop(_FORKSERVER_FLAG, None)
            signal.signal(signal.SIGTERM, previous)
            print(
                f"dropped database {env.database}; "
                + ("broker keys removed" if env.redis_url else "file broker removed")
            )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# --- Preparing orders ----------------------------------------------------------------------------


@dataclass
class Company:
    """What a client needs: the ids of the orders it approves and of the approver who does."""

    pk: int
    approvers: list[int]
    orders: list[int]


def _prepare_company(name: str, *, orders: int, approvers: int) -> Company:
    from billing.models import CompanyPricing, CreditLine
    from cards.models import CardProduct, CardType, Order, OrderLine, OrderStatus
    from cards.services.orders import LineInput, order_create, order_number_new
    from cards.services.workflow import order_submit
    from portal.models import Company as CompanyModel
    from portal.models import Membership, Role, User
    from portal.validators import credit_code_check_character

    n = CompanyModel.objects.count() + 1
    first17 = f"91310000{n:09d}"
    company = CompanyModel.objects.create(
        legal_name=name,
        credit_code=first17 + credit_code_check_character(first17),
        status=CompanyModel.Status.ACTIVE,
        approval_threshold=Decimal(APPROVAL_THRESHOLD),
    )
    CreditLine.objects.create(company=company, limit=Decimal(CREDIT_LIMIT), net_days=30)
    CompanyPricing.objects.create(
        company=company, mode=CompanyPricing.Mode.DISCOUNT, rate=Decimal(DISCOUNT_RATE)
    )

    def person(role: str, k: int) -> User:
        user = User.objects.create_user(email=f"{role}{k}.c{company.pk}@bench.example")
        Membership.objects.create(user=user, company=company, role=role)
        return user

    purchaser = person(Role.PURCHASER, 0)
    approver_users = [person(Role.APPROVER, k) for k in range(approvers)]
    product = CardProduct.objects.filter(name="Bench gift card").first()
    if product is None:
        product = CardProduct.objects.create(
            name="Bench gift card",
            name_en="Bench gift card",
            card_type=CardType.BEARER,
            face_values=["100", "200", "500", "1000"],
            validity_months=36,
        )
    template = order_create(
        company=company,
        actor=purchaser,
        lines=[LineInput(product=product, face_value=v, quantity=q) for v, q in ORDER_LINES],
    )
    template = order_submit(order=template, actor=purchaser)
    assert template.status == OrderStatus.PENDING_APPROVAL, template.status

    numbers = set(Order.objects.values_list("number", flat=True))
    skip = {"id", "public_id", "number"}
    copied = {
        f.attname: getattr(template, f.attname)
        for f in Order._meta.concrete_fields
        if f.attname not in skip
    }
    clones = []
    for _ in range(orders - 1):
        number = order_number_new()
        while number in numbers:
            number = order_number_new()
        numbers.add(number)
        clones.append(Order(number=number, **copied))
    clones = Order.objects.bulk_create(clones, batch_size=1000)
    lines = list(template.lines.all())
    OrderLine.objects.bulk_create(
        (
            OrderLine(
                order=clone,
                **{
                    f.attname: getattr(line, f.attname)
                    for f in OrderLine._meta.concrete_fields
                    if f.attname not in {"id", "order_id"}
                },
            )
            for clone in clones
            for line in lines
        ),
        batch_size=2000,
    )
    return Company(
        pk=company.pk,
        approvers=[u.pk for u in approver_users],
        orders=[template.pk, *(c.pk for c in clones)],
    )


# --- The clients ---------------------------------------------------------------------------------


@dataclass
class ClientResult:
    approved: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def _approve_all(order_ids: list[int], approver_id: int, result: ClientResult | None) -> None:
    from django.core.exceptions import ValidationError

    from cards.models import Order
    from cards.services.workflow import order_approve
    from portal.models import User

    approver = User.objects.get(pk=approver_id)
    for order_id in order_ids:
        started = time.perf_counter()
        try:
            # As a view does: load the order, then call the service.
            order = Order.objects.select_related("company").get(pk=order_id)
            order_approve(order=order, actor=approver)
        except ValidationError as exc:
            if result is None:
                raise
            result.refused[getattr(exc, "code", None) or type(exc).__name__] += 1
            continue
        except Exception as exc:
            if result is None:
                raise
            result.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            continue
        if result is not None:
            result.latencies.append(time.perf_counter() - started)
            result.approved += 1


def _floor_all(order_ids: list[int], approver_id: int, result: ClientResult | None) -> None:
    """The least a correct approval does, in plain SQL: lock the order, lock its credit line,
    take the next number of a gapless series, write the order, commit durably."""
    from django.db import connection, transaction

    for order_id in order_ids:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT company_id FROM cards_order WHERE id = %s FOR UPDATE", [order_id]
            )
            row = cursor.fetchone()
            assert row is not None
            cursor.execute(
                "SELECT id FROM billing_creditline WHERE company_id = %s FOR UPDATE", [row[0]]
            )
            cursor.execute(
                "INSERT INTO billing_invoicesequence (series, year, last) "
                "VALUES ('FLOOR', 2000, 1) ON CONFLICT (series, year) "
                "DO UPDATE SET last = billing_invoicesequence.last + 1"
            )
            cursor.execute("UPDATE cards_order SET updated_at = now() WHERE id = %s", [order_id])
        if result is not None:
            result.latencies.append(time.perf_counter() - started)
            result.approved += 1


_MODES = {"approve": _approve_all, "floor": _floor_all}


def _client(
    mode: str,
    warmup: list[int],
    order_ids: list[int],
    approver_id: int,
    ready: Any,
    go: Event,
    out: Any,
) -> None:
    """One client process: one untimed approval first (imports, connections to PostgreSQL and
    Redis), then report ready, wait for the start signal and approve its share."""
    import django

    django.setup()
    work = _MODES[mode]
    result = ClientResult()
    try:
        try:
            work(warmup, approver_id, None)
        except Exception as exc:
            ready.put(f"{type(exc).__name__}: {exc}")
            raise
        ready.put("")
        go.wait()
        try:
            work(order_ids, approver_id, result)
        except Exception as exc:  # noqa: BLE001 - counted; the parent fails the run
            result.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
    finally:
        from django.db import connections

        connections.close_all()
        out.put(result)


@dataclass
class Phase:
    name: str
    clients: int
    approved: int
    seconds: float
    refused: Counter[str]
    errors: Counter[str]
    latencies: list[float]

    @property
    def per_s(self) -> float:
        return self.approved / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.name:<34} {self.clients:>2} client(s) {self.approved:>6} approvals "
            f"in {self.seconds:6.2f} s = {self.per_s:8.1f}/s   "
            f"latency p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
            + (f"   refused {dict(self.refused)}" if self.refused else "")
            + (f"   errors {dict(self.errors)}" if self.errors else "")
        )


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
    name: str, work: list[tuple[list[int], list[int], int]], *, mode: str = "approve"
) -> Phase:
    """``work``: per client (warm-up order ids, timed order ids, approver id)."""
    # Clients fork from a server process that imported the project and set Django up once
    # (see the end of this module): quick to start, and no socket of this process is inherited.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(mode, warmup, ids, approver, ready, go, out), daemon=True)
        for warmup, ids, approver in work
    ]
    spawned = time.perf_counter()
    for proc in procs:
        proc.start()
    try:
        failures = [m for m in _gather(ready, procs, f"{name}, warm-up", 600) if m]
        if failures:
            raise RuntimeError(f"{name}: warm-up failed: {failures[0]}")
        started = time.perf_counter()
        go.set()
        results: list[ClientResult] = _gather(out, procs, name, 3600)
        seconds = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.join(timeout=30 if go.is_set() else 0.1)
            if proc.is_alive():
                proc.terminate()
    print(f"  ({len(procs)} client process(es) ready in {started - spawned:.1f} s)", flush=True)
    phase = Phase(
        name=name,
        clients=len(work),
        approved=sum(r.approved for r in results),
        seconds=seconds,
        refused=sum((r.refused for r in results), Counter()),
        errors=sum((r.errors for r in results), Counter()),
        latencies=[x for r in results for x in r.latencies],
    )
    print(phase.line(), flush=True)
    return phase


def _split(items: list[int], parts: int) -> list[list[int]]:
    return [items[k::parts] for k in range(parts)]


# --- Checks after the run -----------------------------------------------------------------------


def _verify(companies: list[Company]) -> list[str]:
    """Every order funded with its own invoice; the books balance."""
    from django.db.models import F, Sum

    from billing.models import Account, Invoice, JournalEntry, Posting
    from billing.money import ZERO
    from cards.models import Order, OrderStatus

    problems = []
    ids = [pk for c in companies for pk in c.orders]
    funded = Order.objects.filter(pk__in=ids, status=OrderStatus.FUNDED, invoice__isnull=False)
    if funded.count() != len(ids):
        problems.append(f"{len(ids) - funded.count()} orders not funded with an invoice")
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
    if invoices.count() != len(ids):
        problems.append(f"{invoices.count()} invoices for {len(ids)} orders")
    if invoices.values("order_number").distinct().count() != invoices.count():
        problems.append("an order has two invoices")
    sequences = sorted(invoices.values_list("sequence", flat=True))
    if sequences != list(range(1, len(sequences) + 1)):
        problems.append("invoice numbers have gaps or repeats")
    if (Posting.objects.aggregate(t=Sum("amount"))["t"] or ZERO) != ZERO:
        problems.append("postings do not sum to zero")
    if JournalEntry.objects.annotate(t=Sum("postings__amount")).exclude(t=ZERO).exists():
        problems.append("a journal entry does not balance")
    for company in companies:
        receivable = (
            Posting.objects.filter(
                account__kind=Account.Kind.RECEIVABLE, account__company_id=company.pk
            ).aggregate(t=Sum("amount"))["t"]
            or ZERO
        )
        open_total = (
            Invoice.objects.filter(
                company_id=company.pk,
                kind=Invoice.Kind.INVOICE,
                status__in=(Invoice.Status.OPEN, Invoice.Status.OVERDUE),
            ).aggregate(t=Sum(F("total") - F("paid_amount")))["t"]
            or ZERO
        )
        if receivable != open_total:
            problems.append(f"company {company.pk}: receivable {receivable} != open {open_total}")
    return problems


# --- Main ---------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench approvals", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the order count")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    args = parser.parse_args(argv)
    clients = args.clients
    per_phase = max(clients * 4, round(ORDERS_PER_PHASE * args.scale))
    per_client = per_phase // clients
    per_phase = per_client * clients

    with _throwaway_environment() as env:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        print(
            f"database {env.database} migrated in {time.perf_counter() - started:.1f} s; broker: "
            + (f"Redis {env.redis_url} (prefix {env.prefix})" if env.redis_url else "file broker")
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()
        print(f"{version[0] if version else 'PostgreSQL'}; {os.cpu_count()} CPUs")

        started = time.perf_counter()
        # One extra order per client: its approval is the untimed warm-up.
        single = _prepare_company("单客户公司", orders=per_phase + 1, approvers=1)
        one_line = _prepare_company("同一授信公司", orders=per_phase + clients, approvers=clients)
        many = [
            _prepare_company(f"多授信公司{k + 1}", orders=per_client + 1, approvers=1)
            for k in range(clients)
        ]
        connection.close()
        lines = " + ".join(f"{q} x {v}" for v, q in ORDER_LINES)
        print(
            f"prepared {per_phase} orders per phase pending approval (+1 warm-up per client) in "
            f"{time.perf_counter() - started:.1f} s; an order: {lines} CNY face value at "
            f"{DISCOUNT_RATE}% discount"
        )

        one_line_work = [
            ([warmup], ids, approver)
            for warmup, ids, approver in zip(
                one_line.orders[:clients],
                _split(one_line.orders[clients:], clients),
                one_line.approvers,
                strict=True,
            )
        ]
        phases = [
            _run_phase(
                "single client",
                [(single.orders[:1], single.orders[1:], single.approvers[0])],
            ),
            _run_phase(f"{clients} clients, one credit line", one_line_work),
            _run_phase(
                f"{clients} clients, {clients} credit lines",
                [(c.orders[:1], c.orders[1:], c.approvers[0]) for c in many],
            ),
        ]
        problems = []
        for phase in phases:
            if phase.approved != per_phase:
                problems.append(f"{phase.name}: {phase.approved} of {per_phase} approved")
            if phase.refused or phase.errors:
                problems.append(f"{phase.name}: refused {phase.refused}, errors {phase.errors}")
        problems += _verify([single, one_line, *many])
        # After the checks: the floor touches the same rows, outside the service layer.
        floor = _run_phase(f"floor: {clients} clients, one line, SQL", one_line_work, mode="floor")
        if floor.approved != per_phase or floor.errors:
            problems.append(f"floor: {floor.approved} of {per_phase}, errors {floor.errors}")
        connection.close()
        print(
            "checks: "
            + (
                "; ".join(problems)
                if problems
                else "every order funded once, no refusals or errors, invoice numbers gapless, "
                "ledger balanced, receivables = open invoices"
            )
        )

    single_rate, one_rate, many_rate = (p.per_s for p in phases)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    ratios = {
        "concurrent_vs_single": ratio(many_rate, single_rate),
        "one_line_vs_single": ratio(one_rate, single_rate),
        "one_line_vs_floor": ratio(one_rate, floor.per_s),
    }
    report = {
        "benchmark": "approvals",
        "figures": {
            "single_client_per_s": round(single_rate, 1),
            "concurrent_one_line_per_s": round(one_rate, 1),
            "concurrent_16_lines_per_s": round(many_rate, 1),
            "floor_one_line_per_s": round(floor.per_s, 1),
            "clients": clients,
            "orders_per_phase": per_phase,
            "refused_or_errors": sum(
                sum(p.errors.values()) + sum(p.refused.values()) for p in phases
            ),
        },
        "ratios": ratios,
        "targets": TARGETS,
    }
    for key, target in TARGETS.items():
        value = ratios[key]
        met = value >= float(target.removeprefix(">=").strip())
        print(f"target {key} {target}: {'met' if met else 'NOT met'} ({value})")
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


# The fork server of the client processes imports this module with the flag set: it sets Django up
# once, before any connection exists, and every client forks from it ready to work.
if os.environ.get(_FORKSERVER_FLAG) == "1":
    import django

    django.setup()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
