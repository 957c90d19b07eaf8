"""Before the suite runs: are PostgreSQL, Redis, headless Chromium and Pango (for WeasyPrint's
PDFs) there? Say which is missing and how to get it, instead of letting tests fail (or skip) for a
reason that is not theirs."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
from urllib.parse import urlsplit

import psycopg
import redis

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def check_postgres() -> str | None:
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        return f"DATABASE_URL must point at PostgreSQL for the tests (got a {parts.scheme} URL)."
    # Connect to the maintenance database: the test database is created by the suite itself.
    admin_url = parts._replace(path="/postgres").geturl().replace("pgsql://", "postgresql://")
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return (
            f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432} ({exc}).\n"
            "  Start it, e.g.: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main "
            "start\n  or point DATABASE_URL at a server where the user may create databases."
        )
    return None


def check_redis() -> str | None:
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return (
            f"Redis is not reachable at {url} ({exc}).\n"
            "  Start it, e.g.: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 "
            '--save "" --appendonly no\n  or point REDIS_URL at a running server.'
        )
    return None


def check_chromium() -> str | None:
    browser = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    driver = os.environ.get("CHROMEDRIVER_BIN", shutil.which("chromedriver") or "")
    if not (os.access(browser, os.X_OK) and driver and os.access(driver, os.X_OK)):
        return (
            "Headless Chromium and its driver are needed for the browser journeys.\n"
            "  Install them: apt-get install chromium chromium-driver\n"
            "  (or set CHROMIUM_BIN and CHROMEDRIVER_BIN)."
        )
    return None


PANGO_LIBRARIES = ("pango-1.0", "pangoft2-1.0")
PANGO_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0"


def check_pango() -> str | None:
    """WeasyPrint loads Pango when it is imported: without it no invoice or statement PDF (and
    no test that makes one) can run."""
    missing = []
    for name in PANGO_LIBRARIES:
        try:
            ctypes.CDLL(ctypes.util.find_library(name) or f"lib{name}.so.0")
        except OSError:
            missing.append(name)
    if missing:
        return (
            f"Pango ({', '.join(missing)}) is needed by WeasyPrint for invoice and statement "
            f"PDFs.\n  Install it: apt-get install {PANGO_PACKAGES}"
        )
    return None


def main() -> int:
    checks = (check_postgres(), check_redis(), check_chromium(), check_pango())
    problems = [p for p in checks if p]
    for problem in problems:
        print(f"missing: {problem}", file=sys.stderr)
    if problems:
        print("\nThe test suite needs these; nothing was run.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
