"""Email delivered as files into a spool directory that a mail relay picks up (``EMAIL_URL=
file:///dir``), a production setup the README documents.

Django's deploy check refuses its file-based backend by name, because in development it is where
mail goes to be looked at, not sent. Here the directory is the hand-over to the relay, so the
production setting names this subclass instead, and ``spool_directory_check`` checks what can
really go wrong with it: a relative path, or a directory the web and worker processes cannot
write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.mail import DEFAULT_MAILER_ALIAS  # type: ignore[attr-defined]
from django.core.mail.backends.filebased import EmailBackend as FileEmailBackend

SPOOL_BACKEND = "portal.mail.SpoolDirectoryBackend"


class SpoolDirectoryBackend(FileEmailBackend):
    """One file per connection (usually one message) in the spool directory."""


@checks.register(checks.Tags.mail, deploy=True)
def spool_directory_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    mailer = getattr(settings, "MAILERS", {}).get(DEFAULT_MAILER_ALIAS, {})
    if mailer.get("BACKEND") != SPOOL_BACKEND:
        return []
    path = Path(mailer.get("OPTIONS", {}).get("file_path") or "")
    if not path.is_absolute():
        return [
            checks.Error(
                f"EMAIL_URL names the spool directory {str(path)!r}, which is not an absolute "
                "path.",
                hint="Write it as file:///absolute/path/to/dir.",
                id="portal.E001",
            )
        ]
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return [
            checks.Error(
                f"The email spool directory {str(path)!r} is not a directory this process can "
                "write to.",
                hint="Create it, writable by the web server and the workers, or fix EMAIL_URL.",
                id="portal.E002",
            )
        ]
    return []
