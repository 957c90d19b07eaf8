"""Error pages for requests Django answers itself (no view, or a view that crashed).

Under ``/api/`` they answer JSON in the API's error shape, like every other API answer; the
portal keeps its HTML pages. DRF's exception handler (portal/api/exceptions.py) answers the
errors raised inside API views; these handlers answer what it leaves to Django: unknown paths
and unhandled exceptions (500).

An unknown path under ``/api/`` is answered by ``api_not_found``, the last route of the URLconf,
not only by ``handler404``: Django skips ``handler404`` when ``DEBUG`` is on and shows its HTML
page instead, and a development server should answer API clients as production does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.common import no_append_slash
from django.views.decorators.csrf import csrf_exempt

from portal.api.exceptions import error_body

API_PREFIX = "/api/"
# The URL name of the route that catches every path under /api/ no API route matches.
API_NOT_FOUND = "api-not-found"


def is_api_request(request: HttpRequest) -> bool:
    path = request.path_info
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def _json(detail: str, code: str, status: int) -> JsonResponse:
    response = JsonResponse(
        error_body(detail, code), status=status, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = "no-store"
    return response


def _resolves(path: str) -> bool:
    """Whether an API route (not the catch-all) answers ``path``."""
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.url_name != API_NOT_FOUND


def _not_found_detail(request: HttpRequest) -> str:
    path = request.path_info
    if path.endswith("/") and len(path) > len(API_PREFIX) and _resolves(path.rstrip("/")):
        return _("Not found. API paths have no trailing slash: use %(path)s.") % {
            "path": request.path.rstrip("/")
        }
    return _("Not found. Check the path against the API documentation at /api/docs/.")


@csrf_exempt  # a POST to a wrong path is a 404, not the HTML CSRF failure page
@no_append_slash  # "/api/x" is not redirected to "/api/x/", which this view answers too
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Every path under /api/ that no API route matches: a wrong path parameter (not a UUID),
    a trailing slash, an unknown route; any method, DEBUG on or off."""
    return _json(_not_found_detail(request), "not_found", 404)


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
