"""Fixtures shared by the whole suite: a real Celery worker process and headless Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent
# How long a fixture waits for a worker to answer. A condition is polled, never a fixed sleep; the
# limit is generous because two busy cores can take a minute to import Django in a new process.
WORKER_START_SECONDS = float(os.environ.get("TEST_WORKER_START_SECONDS", "240"))


@pytest.fixture(scope="session")
def mail_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-mail")


def _test_database_url() -> str:
    """The test database as the application's role (``DATABASE_APP_ROLE``, which the test run's
    migrate creates and grants; no password: the test cluster trusts local connections), as
    production runs workers and web servers. The test process itself stays the owner: it
    creates, migrates and flushes the test database."""
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    if settings.DATABASE_APP_ROLE:
        return f"postgres://{settings.DATABASE_APP_ROLE}@{host}:{port}/{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Worker:
    """One `celery worker` process (and its prefork children) started by the tests, in a process
    group of its own so that it can be killed whole, with its output in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, log: IO[bytes]) -> None:
        self.proc = proc
        self.log_path = log_path
        self._log = log

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole group at once: a prefork child holding a transaction dies with its
        parent, as when a machine loses power or the OOM killer strikes."""
        if self._log.closed:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)
        self._log.close()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: running tasks finish, reserved messages go back to the
        queue); SIGKILL for what is left of the group if it does not end in time."""
        if self.alive:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        self.kill()


class WorkerPool:
    """The workers of a test run. One shared worker (``celery_worker_process``) with the default
    settings; tests that need their own (other settings, beat, killing) start them through
    ``celery_worker_factory``, which stops the shared one first: two workers on the same queues
    would take each other's messages. The shared one starts again when a test asks for it."""

    def __init__(self, run_dir: Path, mail_dir: Path) -> None:
        self.run_dir = run_dir
        self.mail_dir = mail_dir
        self.shared: Worker | None = None
        self._count = 0

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "PORTAL_ENV": "test",
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "EMAIL_URL": f"file://{self.mail_dir}",
            "PORTAL_BASE_URL": "http://testserver",
            **overrides,
        }

    def start(
        self,
        *,
        env: dict[str, str] | None = None,
        queues: str = "default,codes,statements",
        concurrency: int = 2,
        beat: bool = False,
        loglevel: str = "INFO",
        name: str = "worker",
    ) -> Worker:
        """Start a worker and wait until it answers a ping (it must consume ``default``)."""
        from portal.celery import app

        self._count += 1
        log_path = self.run_dir / f"{name}-{self._count}.log"
        command = [
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
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            command += ["--beat", "--schedule", str(self.run_dir / f"beat-{self._count}")]
        log = open(log_path, "wb")  # noqa: SIM115 - closed by Worker.kill
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=ROOT,
            env=env or self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(proc, log_path, log)
        deadline = time.monotonic() + WORKER_START_SECONDS
        while True:
            if not worker.alive:
                worker.kill()
                raise RuntimeError(
                    f"the Celery worker exited at start:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if app.send_task("portal.tasks.ping").get(timeout=5) == "pong":
                    return worker
            except Exception:
                if time.monotonic() > deadline:
                    worker.stop()
                    raise

    def shared_worker(self) -> Worker:
        if self.shared is None or not self.shared.alive:
            self.shared = self.start()
        return self.shared

    def stop_shared(self) -> None:
        if self.shared is not None:
            self.shared.stop()
            self.shared = None


@pytest.fixture(scope="session")
def worker_pool(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, mail_dir: Path
) -> Iterator[WorkerPool]:
    pool = WorkerPool(tmp_path_factory.mktemp("workers"), mail_dir)
    try:
        yield pool
    finally:
        pool.stop_shared()


@pytest.fixture
def celery_worker_process(worker_pool: WorkerPool) -> subprocess.Popen[bytes]:
    """A real `celery worker` process on the test database and the test run's Redis keys.

    Tests that use it must be transactional (``@pytest.mark.django_db(transaction=True)``): the
    worker is another process and only sees committed rows.
    """
    return worker_pool.shared_worker().proc


@pytest.fixture
def no_celery_worker(worker_pool: WorkerPool) -> None:
    """No worker runs during this test (the shared one, if an earlier test started it, is
    stopped), so what the test queues waits in the broker: for tests that check the state an
    order is left in before any worker picks it up."""
    worker_pool.stop_shared()


@pytest.fixture
def celery_worker_factory(
    worker_pool: WorkerPool, transactional_db: None
) -> Iterator[Callable[..., Worker]]:
    """Start workers of this test's own: ``start(env={"ISSUANCE_CHUNK_SIZE": "1000"}, beat=True,
    concurrency=1, ...)`` (``env`` adds to the shared worker's environment). The shared worker is
    stopped first; this test's workers are stopped (or found killed) at its end, before the
    database is flushed."""
    started: list[Worker] = []
    worker_pool.stop_shared()

    def start(*, env: dict[str, str] | None = None, **options: Any) -> Worker:
        worker = worker_pool.start(env=worker_pool.env(**(env or {})), **options)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_keys() -> Iterator[None]:
    """Remove this run's broker and cache keys at the end (they carry a per-run prefix)."""
    yield
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000))
    keys += list(client.scan_iter(match=f"*{settings.REDIS_KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*set(keys))


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """pytest-django's live server, whose requests connect as the application's database role
    (each request runs in a thread of its own), as a production web server does."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections
    from pytest_django.live_server_helper import LiveServer

    role = settings.DATABASE_APP_ROLE

    class ApplicationRoleHandler(StaticFilesHandler):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            usual = connections["default"]
            if role and usual.vendor == "postgresql" and usual.settings_dict["USER"] != role:
                connections["default"] = type(usual)(
                    {**usual.settings_dict, "USER": role, "PASSWORD": ""}, "default"
                )
            return super().__call__(environ, start_response)

    addr = (
        request.config.getvalue("liveserver")
        or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    server = LiveServer(addr, start=False)
    server.thread.static_handler = ApplicationRoleHandler
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium from Debian's package, driven by Selenium through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    driver_path = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver")
    if not driver_path or not os.access(binary, os.X_OK):
        pytest.fail("Chromium is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        "--lang=zh-CN",
    ):
        options.add_argument(arg)
    # --lang alone does not change what headless Chromium asks for; this preference does.
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
