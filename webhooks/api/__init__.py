"""The webhook API: /api/v1/webhook-endpoints and /api/v1/events."""

from rest_framework.routers import SimpleRouter


def register_webhook_routes(router: SimpleRouter) -> None:
    from webhooks.api.endpoints import register_endpoint_routes
    from webhooks.api.events import register_event_routes

    register_endpoint_routes(router)  # webhooks/api/endpoints.py: /webhook-endpoints
    register_event_routes(router)  # webhooks/api/events.py: /events
