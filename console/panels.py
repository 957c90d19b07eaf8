"""Panels other apps add to the console (the admin index), shown in the order they were
registered, after the work queues: e.g. the compliance deposit monitor, a report's due date.

A panel is a function of the request that returns the template to render and its context, or
None when it has nothing to show (to this operator, or today)::

    from console.panels import register_panel

    def deposit_monitor(request):
        return "compliance/console/deposit.html", {"monitor": deposit_monitor_read()}

    register_panel("deposit-monitor", deposit_monitor)

Register from an app's ``AppConfig.ready``. A panel reads with aggregates: the console's
page has a bound on its queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

logger = logging.getLogger(__name__)

PanelResult = tuple[str, dict[str, Any]] | None
Panel = Callable[[HttpRequest], PanelResult]

_panels: dict[str, Panel] = {}


def register_panel(name: str, panel: Panel) -> None:
    """Add a panel (registering a name again replaces its panel, in its first place)."""
    _panels[name] = panel


def unregister_panel(name: str) -> None:
    _panels.pop(name, None)


def registered_panels() -> list[str]:
    return list(_panels)


@dataclass(frozen=True)
class RenderedPanel:
    name: str
    html: SafeString


def panels_render(request: HttpRequest) -> list[RenderedPanel]:
    """Each registered panel that has something to show, rendered, in order. A panel that fails
    is logged and shown as failed: the operators keep their console and the other panels."""
    rendered = []
    for name, panel in list(_panels.items()):
        try:
            result = panel(request)
            if result is None:
                continue
            template, context = result
            html = render_to_string(template, context, request=request)
        except Exception:
            logger.exception("console panel %s failed", name)
            html = render_to_string("admin/console/panel_failed.html", {"name": name})
        rendered.append(RenderedPanel(name=name, html=mark_safe(html)))  # noqa: S308
    return rendered
