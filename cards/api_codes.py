from rest_framework.routers import SimpleRouter


def register_code_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
