"""The audit actions of webhook endpoints."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from portal.models import register_audit_actions


class WebhookAction(models.TextChoices):
    ENDPOINT_CREATED = "webhook_endpoint.created", gettext_lazy("Added a webhook endpoint")
    ENDPOINT_CHANGED = "webhook_endpoint.changed", gettext_lazy("Changed a webhook endpoint")
    ENDPOINT_DELETED = "webhook_endpoint.deleted", gettext_lazy("Deleted a webhook endpoint")
    SECRET_ROTATED = (
        "webhook_endpoint.secret_rotated",
        gettext_lazy("Rotated a webhook endpoint's secret"),
    )
    ENDPOINT_DISABLED = (
        "webhook_endpoint.disabled",
        gettext_lazy("A webhook endpoint was disabled after failing"),
    )
    ENDPOINT_ENABLED = "webhook_endpoint.enabled", gettext_lazy("Re-enabled a webhook endpoint")
    EVENTS_REPLAYED = "webhook_events.replayed", gettext_lazy("Replayed webhook events")


register_audit_actions(WebhookAction)
