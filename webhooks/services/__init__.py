"""Webhook services. ``emit`` is the one entry point of the domain services."""

from webhooks.services.recording import emit

__all__ = ["emit"]
