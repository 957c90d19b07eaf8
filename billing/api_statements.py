"""API routes for statements: /statements."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


def register_statement_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
