"""Error pages for requests Django answers itself (no view, or a view that crashed).

Under ``/api/`` they answer JSON in the API's error shape, like every other API answer; the
portal keeps its HTML pages. DRF's exception handler (portal/api/exceptions.py) answers the
errors raised inside API views; these handlers answer what it leaves to Django: unknown paths
(Django's URL resolver, before any view runs) and unhandled exceptions (500).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.views import defaults

from portal.api.exceptions import _body

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    path = request.path_info
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def _json(detail: str, code: str, status: int) -> JsonResponse:
    response = JsonResponse(
        _body(detail, code), status=status, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = "no-store"
    return response


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _not_found_detail(request: HttpRequest) -> str:
    path = request.path_info
    if path.endswith("/") and len(path) > len(API_PREFIX) and _resolves(path.rstrip("/")):
        return _("Not found. API paths have no trailing slash: use %(path)s.") % {
            "path": request.path.rstrip("/")
        }
    return _("Not found. Check the path against the API documentation at /api/docs/.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return _json(_not_found_detail(request), "not_found", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return _json(
            _("Something went wrong on our side. Try again later; if it goes on, contact support."),
            "server_error",
            500,
        )
    return defaults.server_error(request)


def _client_error(
    html_view: Callable[..., HttpResponse], detail: Callable[[], str], code: str, status: int
) -> Callable[[HttpRequest, Exception | None], HttpResponse]:
    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if is_api_request(request):
            return _json(detail(), code, status)
        return html_view(request, exception)

    return view


bad_request: Any = _client_error(
    defaults.bad_request, lambda: _("The request is malformed."), "bad_request", 400
)
permission_denied: Any = _client_error(
    defaults.permission_denied,
    lambda: _("You do not have permission to perform this action."),
    "permission_denied",
    403,
)
