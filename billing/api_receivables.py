"""API routes for aging: /aging."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


def register_receivable_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
