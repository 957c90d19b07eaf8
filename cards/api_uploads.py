"""API routes for order files: /order-uploads."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


def register_upload_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
