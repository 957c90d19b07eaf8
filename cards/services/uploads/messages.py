"""Messages a check stores for many readers: rendered in every language, read back in the
reader's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import translation


def in_every_language(text: Callable[[], str]) -> dict[str, str]:
    """``text()`` in each of the portal's languages, for a message stored for many readers."""
    rendered = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            rendered[language] = text()
    return rendered


def localised(value: Any) -> str:
    """A stored message in the reader's language: a message stored in every language (a dict
    by language code) gives the active language's text; a plain text (stored before messages
    were stored in every language) reads as stored."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    language = translation.get_language() or settings.LANGUAGE_CODE
    for code in (language, "en" if language.startswith("en") else "zh-hans"):
        if code in value:
            return str(value[code])
    return str(next(iter(value.values()), ""))


def upload_errors(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored errors of a check, their column and reason in the reader's language."""
    return [
        {
            **error,
            "column": localised(error.get("column")),
            "reason": localised(error.get("reason")),
        }
        for error in (result or {}).get("errors") or []
    ]


def upload_messages(result: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    """The stored ``notes`` or ``warnings`` of a check, in the reader's language."""
    return [
        {**item, "message": localised(item.get("message"))}
        for item in (result or {}).get(kind) or []
    ]


def upload_result_for_reader(result: dict[str, Any]) -> dict[str, Any]:
    """The stored result of a check as a reader reads it (errors, notes and warnings in their
    language)."""
    return {
        **result,
        "errors": upload_errors(result),
        "notes": upload_messages(result, "notes"),
        "warnings": upload_messages(result, "warnings"),
    }
