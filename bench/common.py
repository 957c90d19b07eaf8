"""What the worker-based benchmarks share: a throwaway database, Redis key prefix and work folder
for one run (removed at the end, and what a killed run left behind removed at the next), and a
real ``celery worker`` started on them and warmed up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.approvals import (
    DEFAULT_REDIS_URL,
    _admin_connect,
    _create_database,
    _drop_database,
    _pid_alive,
    _purge_redis,
    _redis_reachable,
    _server_url,
    _with_database,
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Environment:
    database: str
    redis_url: str
    prefix: str
    work_dir: Path


def exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def drop_stale_databases(db_prefix: str) -> None:
    """Databases of runs that were killed outright (SIGKILL): no connections, process gone."""
    with _admin_connect() as conn:
        rows = conn.execute(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            [db_prefix.replace("_", r"\_") + "%"],
        ).fetchall()
        for (name,) in rows:
            suffix = name.removeprefix(db_prefix)
            if suffix.isdigit() and not _pid_alive(int(suffix)):
                print(f"dropping {name}, left behind by a killed run")
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextlib.contextmanager
def throwaway_environment(
    name: str, settings: Callable[[Environment], dict[str, str]]
) -> Iterator[Environment]:
    """Database ``bench_<name>_<pid>``, Redis prefix ``bench-<name>-<pid>:`` and a temporary
    folder; ``settings`` gives the benchmark's own environment variables (read once by
    portal.settings here, and inherited by the worker and helper processes)."""
    pid = os.getpid()
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    if not _redis_reachable(redis_url):
        raise SystemExit(f"Redis is not reachable at {redis_url} (set BENCH_REDIS_URL)")
    db_prefix = f"bench_{name}_"
    work = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
    env = Environment(
        database=f"{db_prefix}{pid}",
        redis_url=redis_url,
        prefix=f"bench-{name}-{pid}:",
        work_dir=Path(work.name),
    )
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    drop_stale_databases(db_prefix)
    _create_database(env.database)
    try:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                "PORTAL_ENV": "development",
                "DEBUG": "false",  # DEBUG keeps every query in memory
                "LOG_LEVEL": "WARNING",
                "DATABASE_URL": _with_database(_server_url(), env.database),
                "DB_CONN_MAX_AGE": "600",
                "REDIS_URL": env.redis_url,
                "REDIS_KEY_PREFIX": env.prefix,
                **settings(env),
            }
        )
        yield env
    finally:
        try:
            from django.db import connections

            connections.close_all()
        finally:
            _drop_database(env.database)
            _purge_redis(env.redis_url, env.prefix)
            work.cleanup()
            signal.signal(signal.SIGTERM, previous)
            print(f"dropped database {env.database}; broker keys and files removed")


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=60)
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def start_worker(concurrency: int, work_dir: Path, *, queues: str, name: str = "worker") -> Worker:
    """A ``celery worker`` on ``queues``, returned once each of its processes answered a ping
    (which warms it up: imports, connections)."""
    from portal.celery import app

    log_path = work_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                queues,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped whole
        )
    worker = Worker(proc, log_path)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited at start:\n{worker.log_tail()}")
        try:
            pings = [app.send_task("portal.tasks.ping") for _ in range(concurrency * 2)]
            if all(p.get(timeout=10) == "pong" for p in pings):
                return worker
        except Exception:
            if time.monotonic() > deadline:
                worker.stop()
                raise
