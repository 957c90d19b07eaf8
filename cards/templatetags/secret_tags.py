"""Secrets shown to a person once, a card code or an archive password: monospace, in groups
that never break inside (a phone may wrap between groups), with a copy button that copies the
value without the group separators (static/portal/app.js, "Copy buttons"). ``copy_value`` uses
the same partial and script for values people copy into another system (a bank account, a
payment reference, a checksum)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from cards import codes

register = template.Library()

PASSWORD_GROUP = 5


@register.inclusion_tag("cards/_secret.html")
def secret_value(value: str, *, kind: str = "code", testid: str = "") -> dict[str, Any]:
    """``kind="code"``: a card code as ``codes.reveal`` gives it (or typed), shown in the groups
    of ``codes.format_code`` joined by hyphens, which people may type back. ``kind="password"``:
    an archive password, in groups of five with no character between them (only space), so a
    hand-made selection copies the password itself."""
    if kind == "code":
        plain = value.replace("-", "")
        groups = codes.format_code(plain).split("-")
        separator = "-"
        label = _("Copy the code")
    elif kind == "password":
        plain = value
        groups = [value[i : i + PASSWORD_GROUP] for i in range(0, len(value), PASSWORD_GROUP)]
        separator = ""
        label = _("Copy the password")
    else:
        raise template.TemplateSyntaxError(f"secret_value: unknown kind {kind!r}")
    return {
        "plain": plain,
        "groups": groups,
        "separator": separator,
        "label": label,
        "kind": kind,
        "testid": testid,
    }


@register.inclusion_tag("cards/_secret.html")
def copy_value(
    value: object,
    *,
    label: str,
    shown: str = "",
    keep_spaces: bool = False,
    kind: str = "value",
    testid: str = "",
) -> dict[str, Any]:
    """A value to copy elsewhere, not a secret. The page shows ``shown`` (an amount with its
    currency, a shortened checksum) or else ``value`` in the groups its own spaces make (an
    account number as the pro-forma PDF prints it), each group kept whole. The button copies
    ``value`` without its spaces (an account number, a reference), or with single spaces for a
    name (``keep_spaces``: its words may wrap, as names do). ``label`` is the button's
    screen-reader label, translated by the template ("Copy the account number")."""
    words = str(value).split()
    return {
        "plain": " ".join(words) if keep_spaces else "".join(words),
        "groups": [shown] if shown else words,
        "group_class": "copy-words" if keep_spaces else "secret-group",
        "separator": " ",
        "label": label,
        "kind": kind,
        "testid": testid,
    }
