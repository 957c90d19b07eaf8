"""Secrets shown to a person once, a card code or an archive password: monospace, in groups
that never break inside (a phone may wrap between groups), with a copy button that copies the
value without the group separators (static/portal/app.js, "Copy buttons")."""

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
