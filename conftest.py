"""Fixtures shared by the whole suite: a real Celery worker process and headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def mail_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-mail")


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker, mail_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the test database and the test run's Redis keys.

    Tests that use it must be transactional (``@pytest.mark.django_db(transaction=True)``): the
    worker is another process and only sees committed rows.
    """
    from portal.celery import app

    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "EMAIL_URL": f"file://{mail_dir}",
        "PORTAL_BASE_URL": "http://testserver",
    }
    log = open(mail_dir.parent / "worker.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            "default,codes,statements",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    "the Celery worker exited at start:\n"
                    + (mail_dir.parent / "worker.log").read_text()[-3000:]
                )
            try:
                if app.send_task("portal.tasks.ping").get(timeout=5) == "pong":
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
