"""API routes for payments: /payments."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


def register_payment_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
