"""Cells as a person meant them, and a file's header matched to fields."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.utils import translation
from django.utils.translation import gettext as _

from .table import TableError

_WHITESPACE_RUN = re.compile(r"\s+")
# Whitespace that is not one plain space between words.
_ODD_SPACE = re.compile(r"\s\s|[^\S ]")
# After NFKC, full-width punctuation is ASCII, so a unit in brackets is "(元)".
_HEADER_NOISE = re.compile(r"[\s_\-.:*]+|\((?:元|cny|rmb|¥)\)", re.IGNORECASE)


@dataclass
class HeaderMatch:
    """Which column holds each field (by index into the header), and the header cells that
    matched no field (as written in the file)."""

    columns: dict[str, int]
    unknown: list[str] = field(default_factory=list)

    def get(self, cells: list[str], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index]


def normalise_cell(text: str) -> str:
    """Text as a person meant it: NFKC (full-width digits, letters and punctuation to
    half-width, the ideographic space to a space), trimmed, inner whitespace as one space."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if text and (text[0].isspace() or text[-1].isspace() or _ODD_SPACE.search(text)):
        return _WHITESPACE_RUN.sub(" ", text).strip()
    return text


def header_key(text: str) -> str:
    """A header cell compared without case, spaces, underscores, punctuation around it or
    width: "Face Value", "face_value", a unit such as "(元)" and full-width letters match."""
    return _HEADER_NOISE.sub("", normalise_cell(text)).casefold()


def match_headers(
    header: list[str], columns: dict[str, tuple[str, ...]], required: set[str]
) -> HeaderMatch:
    """Map the file's header to fields. ``columns`` gives each field's aliases (in any language);
    a header cell matching no alias is listed in ``unknown``; a field in ``required`` that no
    cell matches raises TableError naming it (by its first alias in the user's language, which
    is the caller's to order)."""
    lookup: dict[str, str] = {}
    for name, aliases in columns.items():
        for alias in (name, *aliases):
            lookup.setdefault(header_key(alias), name)
    found: dict[str, int] = {}
    unknown: list[str] = []
    duplicated: list[tuple[int, int, str]] = []
    for index, cell in enumerate(header):
        key = header_key(cell)
        if not key:
            continue
        field_name = lookup.get(key)
        if field_name is None:
            unknown.append(cell)
        elif field_name in found:
            duplicated.append((found[field_name], index, field_name))
        else:
            found[field_name] = index
    chinese = (translation.get_language() or "").startswith("zh")

    def label(name: str) -> str:
        aliases = columns[name]
        return (aliases[0] if chinese or len(aliases) < 2 else aliases[1]) if aliases else name

    if duplicated:
        raise TableError(
            _("The header names a column twice: %(columns)s. Keep one of them.")
            % {
                "columns": "; ".join(
                    _("“%(first)s” and “%(second)s” both mean “%(column)s”")
                    % {"first": header[first], "second": header[second], "column": label(name)}
                    for first, second, name in duplicated
                )
            },
            code="duplicate_column",
            row=1,
        )
    missing = [name for name in columns if name in required and name not in found]
    if missing and not found:
        raise TableError(
            _(
                "The first row is not a header (it reads “%(cells)s”). Put a row naming the "
                "columns first, for example: %(example)s (the template has every column)."
            )
            % {
                "cells": ", ".join(c for c in header if c)[:200],
                "example": ", ".join(label(name) for name in columns),
            },
            code="no_header",
            row=1,
        )
    if missing:
        labels = [" / ".join(columns[name][:2]) or name for name in missing]
        raise TableError(
            _("The header has no column for %(columns)s; add it (the template has every column).")
            % {"columns": ", ".join(f"“{label}”" for label in labels)},
            code="missing_column",
            row=1,
        )
    return HeaderMatch(columns=found, unknown=unknown)
