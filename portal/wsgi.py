"""The WSGI application gunicorn serves.

The merchant API (/api/v1/merchant/) is answered by a handler of its own with only the middleware
a key-authenticated JSON API needs (security headers, the language of its messages, framing):
no session, CSRF, user, second factor, company, messages or sign-in lockout, which a checkout's
request never uses and which cost as much as a balance check itself. Everything else goes
through the full stack (``MIDDLEWARE``). The test client always uses the full stack; both paths
are tested through this module (tests/cards/spend/test_merchant_wsgi.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

MERCHANT_API_PREFIX = "/api/v1/merchant/"
# Of ``MIDDLEWARE``, what the merchant API keeps (in ``MIDDLEWARE``'s order).
MERCHANT_API_MIDDLEWARE = frozenset(
    {
        "portal.request_id.RequestIdMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)


class MerchantApiHandler(WSGIHandler):
    """A WSGI handler whose middleware is ``MERCHANT_API_MIDDLEWARE`` only."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; this handler is made once, at
        # import, before any request is served.
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in everything if path in MERCHANT_API_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything


def _dispatching(
    portal: WSGIHandler, merchant_api: WSGIHandler
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(MERCHANT_API_PREFIX):
            return merchant_api(environ, start_response)
        return portal(environ, start_response)

    return application


application = _dispatching(get_wsgi_application(), MerchantApiHandler())
