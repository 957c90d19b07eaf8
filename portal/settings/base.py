"""Paths, the environment (PORTAL_ENV), secrets, applications, templates, languages and static
files."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

# This file is portal/settings/base.py: three levels up is the project root, as before the split.
BASE_DIR = Path(__file__).resolve().parent.parent.parent
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
    "portal.third_party_apps.TOTPConfig",  # django_otp.plugins.otp_totp, its name translated
    "django_htmx",
    "import_export",
    "portal.third_party_apps.AxesConfig",  # axes, its name translated
    "portal",
    "cards",
    "billing",
    "expenses",
    "compliance",
    "console",
    "sso",
    "webhooks",
]

MIDDLEWARE = [
    "portal.request_id.RequestIdMiddleware",
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
    "sso.access.SsoSessionMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.access.ActiveCompanyMiddleware",
    "portal.access.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "portal.api.rate_limits.ApiRateLimitMiddleware",
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
                "portal.navigation.menu_context",
            ],
        },
    },
]

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
