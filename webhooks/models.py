"""Webhook endpoints a company registers, the events recorded for it, and their deliveries.

- ``WebhookEndpoint``: URL, subscribed event types, the signing secret (encrypted with
  ``portal.crypto``; a rotated-out secret keeps signing until its overlap ends) and its health.
- ``ObjectSequence``: one counter row per object (an order, a card...), incremented under its
  row lock in the transaction that records the event, so an object's events are numbered in
  the order their transactions commit.
- ``Event``: what happened, with a versioned JSON payload; ``evt_...`` is its public id and the
  ``webhook-id`` of every delivery of it.
- ``Delivery``: one event to one endpoint (a replay is a new delivery), retried on the
  published schedule; ``DeliveryAttempt``: each try, kept ``WEBHOOKS_RETENTION_DAYS``.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company
from webhooks.events import EventType


def event_public_id() -> str:
    return f"evt_{secrets.token_hex(12)}"


class WebhookEndpoint(models.Model):
    class DisabledReason(models.TextChoices):
        FAILING = "failing", _("Failing for too long")
        OWNER = "owner", _("Paused by an owner")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("company"),
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list)
    # The signing secret ("whsec_..."), AES-GCM under portal.crypto: never shown after creation.
    secret_key_id = models.CharField(max_length=20)
    secret_ciphertext = models.BinaryField()
    # The secret a rotation replaced: it still signs (a second signature) until this time.
    previous_secret_key_id = models.CharField(max_length=20, blank=True)
    previous_secret_ciphertext = models.BinaryField(null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Health, for the owner and the operators.
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(
        _("why disabled"), max_length=20, choices=DisabledReason.choices, blank=True
    )
    owners_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["company", "disabled_at"], name="webhook_endpoint_company")]

    def __str__(self) -> str:
        return self.url

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def subscribes(self, event_type: str) -> bool:
        return event_type in self.event_types


class ObjectSequence(models.Model):
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    last_sequence = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "object_id"], name="webhook_object_sequence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type}:{self.object_id} #{self.last_sequence}"


class Event(models.Model):
    public_id = models.CharField(
        _("event id"), max_length=40, unique=True, default=event_public_id, editable=False
    )
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="+", verbose_name=_("company")
    )
    type = models.CharField(_("event type"), max_length=40, choices=EventType.choices)
    object_type = models.CharField(_("object type"), max_length=40)
    object_id = models.CharField(_("object id"), max_length=64)
    sequence = models.PositiveBigIntegerField(_("sequence"))
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "object_id", "sequence"], name="webhook_event_sequence"
            )
        ]
        indexes = [
            models.Index(fields=["company", "created_at", "id"], name="webhook_event_company"),
            models.Index(fields=["created_at"], name="webhook_event_created"),
        ]

    def __str__(self) -> str:
        return self.public_id


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled (endpoint disabled or deleted)")

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    replay = models.BooleanField(_("replay"), default=False)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["created_at"], name="webhook_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("Delivered")
        HTTP_ERROR = "http_error", _("Error response")
        TIMEOUT = "timeout", _("Timed out")
        NETWORK_ERROR = "network_error", _("Network error")
        REFUSED = "refused", _("Refused: not a public HTTPS address")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    response_status = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    response_body = models.CharField(_("response body (start)"), max_length=1000, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("webhook delivery attempt")
        verbose_name_plural = _("webhook delivery attempts")
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["started_at"], name="webhook_attempt_started")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
