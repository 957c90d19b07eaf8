"""The one settings module. Everything that differs between machines comes from the environment.

PORTAL_ENV selects the defaults: ``development`` (the default: SQLite under ``var/`` and an
embedded broker unless DATABASE_URL / REDIS_URL say otherwise), ``test`` (PostgreSQL and Redis on
their default local ports) and ``production`` (refuses to start without its secrets).
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()

# Under pytest the default is the test environment, so a bare `pytest` never touches dev data.
PORTAL_ENV = env.str("PORTAL_ENV", "test" if "pytest" in sys.modules else "development")
if PORTAL_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"PORTAL_ENV must be development, test or production, not {PORTAL_ENV!r}"
    )
IS_PRODUCTION = PORTAL_ENV == "production"
IS_TEST = PORTAL_ENV == "test"

# --- Secrets -------------------------------------------------------------------------------------
# Production takes them from the environment only. Elsewhere, values missing from the environment
# are generated once into var/secrets.env (never committed) and read back on every start.

SECRET_NAMES = ("SECRET_KEY", "CARD_CODE_PEPPER", "CARD_CODE_KEYS")


def _generate_dev_secrets(path: Path) -> None:
    """Write var/secrets.env atomically, once: concurrent starters all read the same values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return
    body = "\n".join(
        [
            "# Generated on first run for development and tests.",
            "# Never commit it; never use these values in production.",
            f"SECRET_KEY={secrets.token_urlsafe(50)}",
            f"CARD_CODE_PEPPER={secrets.token_hex(32)}",
            f"CARD_CODE_KEYS=k1:{secrets.token_hex(32)}",
            "",
        ]
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(body)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


if IS_PRODUCTION:
    missing = [name for name in SECRET_NAMES if not os.environ.get(name)]
    if missing:
        raise ImproperlyConfigured(
            "PORTAL_ENV=production needs these environment variables: " + ", ".join(missing)
        )
else:
    _secrets_file = VAR_DIR / "secrets.env"
    _generate_dev_secrets(_secrets_file)
    environ.Env.read_env(str(_secrets_file), overwrite=False)

SECRET_KEY = env.str("SECRET_KEY")
CARD_CODE_PEPPER = env.str("CARD_CODE_PEPPER")
# "k2:hex,k1:hex": key id to 32-byte key in hex, the first one current.
CARD_CODE_KEYS = env.str("CARD_CODE_KEYS")

DEBUG = env.bool("DEBUG", default=PORTAL_ENV == "development")
# Check every money lock against the global order (billing/locks.py); off in production, where a
# violation found by the tests cannot appear anyway and the check would only cost time.
MONEY_LOCK_ORDER_CHECK = env.bool("MONEY_LOCK_ORDER_CHECK", default=not IS_PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("PORTAL_ENV=production needs ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Applications --------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_htmx",
    "import_export",
    "axes",
    "portal",
    "cards",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.session_timeout.SessionIdleTimeoutMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.access.ActiveCompanyMiddleware",
    "portal.access.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.access.company_context",
            ],
        },
    },
]

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

# --- Celery --------------------------------------------------------------------------------------
# The longest task (a code-generation chunk or a statement run) must finish well inside this, or
# Redis hands its message to a second worker while the first is still working.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600)
# A web request publishes its follow-ups through the outbox (portal/services/outbox.py) and must
# never hang on a broker that is away: connecting, and each socket operation, give up after these
# many seconds; the publish itself is not retried (the relay is).
BROKER_CONNECT_TIMEOUT = env.float("BROKER_CONNECT_TIMEOUT", default=3.0)
BROKER_SOCKET_TIMEOUT = env.float("BROKER_SOCKET_TIMEOUT", default=10.0)
OUTBOX_PUBLISH_TIMEOUT = env.float("OUTBOX_PUBLISH_TIMEOUT", default=2.0)
# How often Celery beat runs the outbox relay, which publishes what could not be published.
OUTBOX_RELAY_SECONDS = env.float("OUTBOX_RELAY_SECONDS", default=60.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT
# Nobody reads the results of fire-and-forget tasks; the few whose results are read (the
# workers' ping) say ignore_result=False themselves.
CELERY_TASK_IGNORE_RESULT = True
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "global_keyprefix": REDIS_KEY_PREFIX,
        "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
        "socket_timeout": BROKER_SOCKET_TIMEOUT,
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "global_keyprefix": REDIS_KEY_PREFIX,
        # A reader of a result (only the ping) gives up after a few seconds, not 20.
        "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 1},
    }
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_CONNECT_TIMEOUT
    CELERY_REDIS_SOCKET_TIMEOUT = BROKER_SOCKET_TIMEOUT
else:
    # Embedded default: a broker in plain files under var/, shared by the web server and worker.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "results", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (worker control) exchanges; kombu's default is ./control in the cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    }
    CELERY_RESULT_BACKEND = f"file://{_broker_dir / 'results'}"
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {}

# --- The client's address behind proxies (portal/client_ip.py) ------------------------------------
# REMOTE_ADDR, unless the portal runs behind TRUSTED_PROXY_COUNT proxies (one by default behind
# BEHIND_TLS_PROXY): then the entry that many places from the right of TRUSTED_PROXY_HEADER.
# With no proxy configured the header is ignored, as any client can write it.
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("BEHIND_TLS_PROXY", default=False) else 0
)
TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", default="X-Forwarded-For")

# --- Authentication ------------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"
PASSWORD_RESET_TIMEOUT = 3600

# Sign-in lockout (portal/login_throttle.py): an account from one address after
# AXES_FAILURE_LIMIT failures, an account from anywhere after LOGIN_ACCOUNT_FAILURE_LIMIT, one
# address (an office shares one) across accounts after LOGIN_ADDRESS_FAILURE_LIMIT, for
# AXES_COOLOFF_MINUTES from the last counted failure; failures while locked are not counted.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
LOGIN_ACCOUNT_FAILURE_LIMIT = env.int("LOGIN_ACCOUNT_FAILURE_LIMIT", default=10)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=100)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_HANDLER = "portal.login_throttle.LoginThrottleHandler"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "portal.client_ip.client_ip"
# The sign-in forms post, and authenticate() receives, "username" (axes would default to "email",
# USERNAME_FIELD, find nothing there and never lock an account by name).
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/auth/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False

OTP_TOTP_ISSUER = "E-card Portal"
OTP_TOTP_THROTTLE_FACTOR = 1
INVITATION_VALID_DAYS = 7

# --- Ordering rules (operators tune these; the prepaid-card regime's caps are fixed in code) ----

# Orders at or above this total go to an operator's risk review, whatever the company approved.
ORDER_PLATFORM_LIMIT = Decimal(env.str("ORDER_PLATFORM_LIMIT", default="500000.00"))
# Velocity: a company's submitted orders per local day, by count and by value.
ORDER_VELOCITY_MAX_COUNT = env.int("ORDER_VELOCITY_MAX_COUNT", default=20)
ORDER_VELOCITY_MAX_VALUE = Decimal(env.str("ORDER_VELOCITY_MAX_VALUE", default="1000000.00"))
# Structuring: this many orders on one day each within this fraction below a threshold.
ORDER_STRUCTURING_COUNT = env.int("ORDER_STRUCTURING_COUNT", default=3)
ORDER_STRUCTURING_MARGIN = Decimal(env.str("ORDER_STRUCTURING_MARGIN", default="0.10"))
ORDER_MAX_LINES = env.int("ORDER_MAX_LINES", default=200_000)
ORDER_MAX_QUANTITY = env.int("ORDER_MAX_QUANTITY", default=1_000_000)
# Order files (cards/services/uploads.py, portal/tabular.py): refused from their size before
# reading, and at the first row over the limit; files over the inline size are checked by a worker.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_ROWS = env.int("UPLOAD_MAX_ROWS", default=200_000)
UPLOAD_INLINE_MAX_BYTES = env.int("UPLOAD_INLINE_MAX_BYTES", default=256 * 1024)
# XLSX zip bombs: total unpacked size, and unpacked / packed size of any member over 1 MB.
UPLOAD_XLSX_MAX_UNCOMPRESSED = env.int("UPLOAD_XLSX_MAX_UNCOMPRESSED", default=200 * 1024 * 1024)
UPLOAD_XLSX_MAX_RATIO = env.int("UPLOAD_XLSX_MAX_RATIO", default=100)
PROFORMA_PAY_DAYS = env.int("PROFORMA_PAY_DAYS", default=14)

# --- Card issuance -------------------------------------------------------------------------------

# Cards per chunk: one task and one transaction each. A worker holds one COPY block (2,000
# cards) at a time, so its memory does not grow with this; larger chunks mean fewer tasks, and
# Celery opens a database connection per task: 20,000 measured about 20% faster than 10,000
# per million cards (docs/benchmarks.md), and a crash loses at most one chunk's work per worker.
ISSUANCE_CHUNK_SIZE = env.int("ISSUANCE_CHUNK_SIZE", default=20_000)
# A chunk waiting longer than this, with no live transaction on it, is sent again.
ISSUANCE_STALE_SECONDS = env.int("ISSUANCE_STALE_SECONDS", default=120)
ISSUANCE_SWEEP_SECONDS = env.int("ISSUANCE_SWEEP_SECONDS", default=60)
ISSUANCE_MAX_ATTEMPTS = env.int("ISSUANCE_MAX_ATTEMPTS", default=5)
# Delivery by file: how many times an order's codes can be downloaded, and how long a fresh
# two-factor check before a download counts as fresh.
CODE_DOWNLOAD_LIMIT = env.int("CODE_DOWNLOAD_LIMIT", default=3)
CODE_REVEAL_2FA_MINUTES = env.int("CODE_REVEAL_2FA_MINUTES", default=5)
# Delivery to recipients: days a one-time link stays valid, links sent per card (the first one
# and resends; a change of recipient sends one more), and changes of recipient per card.
RECIPIENT_LINK_DAYS = env.int("RECIPIENT_LINK_DAYS", default=30)
RECIPIENT_MAX_SENDS = env.int("RECIPIENT_MAX_SENDS", default=3)
RECIPIENT_MAX_CHANGES = env.int("RECIPIENT_MAX_CHANGES", default=2)
# Text messages (portal/sms.py): the console backend logs only the masked number; tests collect
# messages in memory.
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="portal.sms.LocmemSmsBackend" if IS_TEST else "portal.sms.ConsoleSmsBackend",
)

# A funded order whose fulfilment has not started after this long is started by the issuance
# sweep (its message was lost), and reported by the nightly ledger check.
ORDER_FUNDED_STALE_SECONDS = env.int("ORDER_FUNDED_STALE_SECONDS", default=300)

CELERY_BEAT_SCHEDULE = {
    "issuance-sweep": {"task": "cards.tasks.sweep_issuance", "schedule": ISSUANCE_SWEEP_SECONDS},
    "outbox-relay": {"task": "portal.tasks.outbox_relay", "schedule": OUTBOX_RELAY_SECONDS},
}
# Statements of last month, the 1st at 02:00 (Celery's timezone is Asia/Shanghai: portal/celery.py).
from celery.schedules import crontab as _crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["statements-monthly"] = {
    "task": "billing.tasks.statement_monthly",
    "schedule": _crontab(minute=0, hour=2, day_of_month=1),
}
# Receivables (billing/tasks_receivables.py): the money invariants at 03:30, then overdue
# marking, reminders and credit holds at 06:00, before buyers start ordering.
CELERY_BEAT_SCHEDULE["ledger-check-nightly"] = {
    "task": "billing.tasks.ledger_check",
    "schedule": _crontab(minute=30, hour=3),
}
CELERY_BEAT_SCHEDULE["receivables-daily"] = {
    "task": "billing.tasks.receivables_daily",
    "schedule": _crontab(minute=0, hour=6),
}
# The seller on every invoice, and the account a pro-forma invoice asks buyers to pay into.
PLATFORM_LEGAL_NAME = env.str("PLATFORM_LEGAL_NAME", default="上海易卡预付卡服务有限公司")
PLATFORM_CREDIT_CODE = env.str("PLATFORM_CREDIT_CODE", default="91310000MA1K4ECP06")
PLATFORM_BANK_NAME = env.str("PLATFORM_BANK_NAME", default="招商银行上海分行营业部")
PLATFORM_BANK_ACCOUNT_NAME = env.str("PLATFORM_BANK_ACCOUNT_NAME", default=PLATFORM_LEGAL_NAME)
PLATFORM_BANK_ACCOUNT = env.str("PLATFORM_BANK_ACCOUNT", default="1219 0000 0000 0000 0001")

# Sessions (portal/session_timeout.py): signed out after SESSION_IDLE_TIMEOUT_MINUTES without a
# request (0: never idle), and SESSION_COOKIE_AGE after sign-in at the latest.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)
SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Security headers ----------------------------------------------------------------------------

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe the health check over plain HTTP on the internal network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation ------------------------------------------------------------------------

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production, serve straight from the source folders (no collectstatic step needed).
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = not IS_PRODUCTION
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- Email ---------------------------------------------------------------------------------------


def _mailer_from_url(url: str) -> dict[str, Any]:
    """EMAIL_URL to a MAILERS entry: smtp://user:pass@host:port (smtp+tls://, smtps:// for TLS),
    console://, or file:///path/to/dir (one file per message)."""
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        # A spool directory a relay picks up: valid in production (portal/mail.py checks it).
        return {
            "BACKEND": "portal.mail.SpoolDirectoryBackend",
            "OPTIONS": {"file_path": unquote(parts.path)},
        }
    if parts.scheme in {"smtp", "smtp+tls", "smtps"}:
        use_ssl = parts.scheme == "smtps"
        use_tls = parts.scheme == "smtp+tls"
        return {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": parts.hostname or "localhost",
                "port": parts.port or (465 if use_ssl else 587 if use_tls else 25),
                "username": unquote(parts.username or ""),
                "password": unquote(parts.password or ""),
                "use_tls": use_tls,
                "use_ssl": use_ssl,
                "timeout": 20,
            },
        }
    raise ImproperlyConfigured(f"EMAIL_URL has an unknown scheme {parts.scheme!r}")


if os.environ.get("EMAIL_URL"):
    MAILERS = {"default": _mailer_from_url(os.environ["EMAIL_URL"])}
elif IS_PRODUCTION:
    raise ImproperlyConfigured("PORTAL_ENV=production needs EMAIL_URL")
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="E-card Portal <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL


def _served_address() -> str:
    """Where `./dev run` serves the portal: its HOST and PORT (which it exports to the web
    server and the worker), so emailed links reach it whatever port was chosen."""
    host = os.environ.get("HOST") or "127.0.0.1"
    port = os.environ.get("PORT") or "8000"
    # Served on every interface: this machine answers as localhost.
    if host in {"0.0.0.0", "::", "[::]"}:  # noqa: S104 - read, not bound
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


# The portal's public address, for links in emails (workers have no request to read it from).
PORTAL_BASE_URL = env.str(
    "PORTAL_BASE_URL", default="http://localhost:8000" if IS_PRODUCTION else _served_address()
).rstrip("/")

# --- Admin and API -------------------------------------------------------------------------------

ADMIN_PATH = env.str("ADMIN_PATH", default="ops/").strip("/") + "/"

# django-import-export in the admin (billing/admin_import.py, cards/admin_import.py). Its formats
# there neutralise formula cells and write CSV in UTF-8 with a BOM themselves: the library's own
# escaping only drops a leading "=" (and makes every value text), so it stays off. Previews are
# dry runs inside a transaction that is rolled back; importing needs the change permission.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# The API takes buyer API keys only (no session cookies, so no CSRF surface), speaks JSON only,
# and answers errors as {"detail", "code", "errors"} in the request's language.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.HasApiKeyScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.DecimalJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "E-card procurement portal API",
    "DESCRIPTION": _(
        "Order prepaid e-cards in bulk and read invoices. Authenticate with an API key "
        "(Authorization: Bearer <key>) created by an owner under Settings → API keys. "
        "POST /api/v1/orders needs an Idempotency-Key header."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "cards.models.OrderStatus",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "InvoiceKindEnum": "billing.models.Invoice.Kind",
        "PaymentStatusEnum": "billing.models.Payment.Status",
        "AllocationKindEnum": "billing.models.Allocation.Kind",
        "AllocationMethodEnum": "billing.models.Allocation.Method",
        "StatementStatusEnum": "billing.models.Statement.Status",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False},
}

# --- Logging -------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
