"""Email: the mailer from EMAIL_URL, and the portal's public address for links in emails."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from .base import IS_PRODUCTION, env

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
