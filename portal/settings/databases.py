"""Data stores: the database and its roles, Redis, the cache and sessions."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .base import IS_PRODUCTION, IS_TEST, PORTAL_ENV, VAR_DIR, env

# --- Data stores ---------------------------------------------------------------------------------

_default_database = {
    "development": f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
    "test": "postgres://postgres@127.0.0.1:5432/portal",
}
if IS_PRODUCTION and not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured("PORTAL_ENV=production needs DATABASE_URL (PostgreSQL)")
DATABASES = {"default": env.db_url("DATABASE_URL", default=_default_database.get(PORTAL_ENV, ""))}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write the same file: wait for the lock instead of failing.
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    _db["ENGINE"] = "django.db.backends.postgresql"
    # Persistent connections: measured 357 -> 1,404 requests/s on a JSON list view.
    _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0 if IS_TEST else 600)
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("connect_timeout", 5)
    # Prepared statements only for the statements that ask (portal.db.prepared_cursor): psycopg
    # prepares none on its own below this many executions, and Django's client-side cursors never.
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        _db["OPTIONS"].setdefault("prepare_threshold", 2**31 - 1)
    _db["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=f"test_{_db['NAME']}")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database roles (portal/db_roles.py) ---------------------------------------------------------
# On PostgreSQL the application connects as a role that owns nothing: it reads and writes the
# ordinary tables, only reads and appends to the append-only ones (ledger, card transactions,
# audit trail) and can neither TRUNCATE nor touch triggers. DATABASE_URL is that role.
# MIGRATE_DATABASE_URL is the role that owns the tables: `manage.py migrate` and
# `manage.py db_roles` connect as it (same database) and grant the application role its rights.
# Unset, everything connects as DATABASE_URL, as before (the embedded SQLite default, a laptop's
# PostgreSQL). Tests: the test process is the owner (it creates, migrates and flushes the test
# database); workers and the live server connect as DATABASE_APP_ROLE (conftest.py).
MIGRATE_DATABASE_URL = env.str("MIGRATE_DATABASE_URL", default="")
DATABASE_OWNER: dict[str, Any] | None = None
if MIGRATE_DATABASE_URL:
    _owner = env.db_url_config(MIGRATE_DATABASE_URL)
    if _db["ENGINE"] == "django.db.backends.sqlite3" or _owner["NAME"] != _db["NAME"]:
        raise ImproperlyConfigured(
            "MIGRATE_DATABASE_URL must name the same PostgreSQL database as DATABASE_URL, "
            "as the role that owns its tables"
        )
    DATABASE_OWNER = {
        key: _owner[key] for key in ("USER", "PASSWORD", "HOST", "PORT") if _owner.get(key)
    }
# The application's role: DATABASE_URL's user once the owner is separate; in tests, a fixed role
# the test run creates (roles are cluster-wide: concurrent runs on other databases share it).
DATABASE_APP_ROLE = env.str(
    "DATABASE_APP_ROLE",
    default=(
        ""
        if _db["ENGINE"] == "django.db.backends.sqlite3"
        else _db["USER"]
        if DATABASE_OWNER
        else "portal_app"
        if IS_TEST
        else ""
    ),
)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0" if IS_TEST else "")
if IS_PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("PORTAL_ENV=production needs REDIS_URL")
# Keys of concurrent test runs, and of tests beside a development server, never meet.
REDIS_KEY_PREFIX = env.str(
    "REDIS_KEY_PREFIX", default=f"portal-test-{os.getpid()}:" if IS_TEST else "portal:"
)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

SESSION_ENGINE = "django.contrib.sessions.backends.db"
