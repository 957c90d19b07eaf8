"""Swagger UI from drf-spectacular-sidecar (no CDN), under the site's strict CSP.

The split view serves the start-up script from its own URL (``?script``), so no inline script
is needed; the page keeps ``script-src 'self'``. Only its small inline ``<style>`` block needs
an exception, and only on this page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularSwaggerSplitView

DOCS_CSP: dict[str, Any] = {
    **settings.SECURE_CSP,
    # A nonce in style-src would make browsers ignore 'unsafe-inline'.
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
}


def api_docs_view() -> Any:
    # functools.wraps inside csp_override keeps the view's csrf_exempt and view_class.
    return csp_override(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
