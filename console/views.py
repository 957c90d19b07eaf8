"""The console's pages in the operators' admin (wrapped by ``PortalAdminSite.admin_view``: staff
who passed the second factor): the index's context and a key figure's export."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from console.exports import FORMATS, figure_export, figure_file_name
from console.panels import panels_render
from console.queues import work_queues
from console.selectors import console_figures, figure_get


def console_context(request: HttpRequest) -> dict[str, Any]:
    queues = work_queues()
    return {
        "console_queues": queues,
        "console_waiting": sum(queue.count for queue in queues),
        "console_panels": panels_render(request),
        "console_figures": console_figures(),
    }


def figure_export_view(request: HttpRequest, key: str, fmt: str) -> HttpResponse:
    if fmt not in FORMATS:
        raise Http404
    figure = figure_get(key)
    if figure is None:
        raise Http404
    response = HttpResponse(figure_export(figure, fmt), content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{figure_file_name(figure, fmt)}"'
    response["Cache-Control"] = "no-store"
    return response
