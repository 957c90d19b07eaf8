"""Operators see every company's webhook endpoints and their health, read-only: when each last
succeeded, since when it fails, whether it was disabled, and its recent attempts. Never the
secret (only whether a rotation's overlap is running). Owners change endpoints in the portal."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from billing.admin.base import ReadOnlyAdmin
from webhooks.models import DeliveryAttempt, Event, WebhookEndpoint


class HealthFilter(admin.SimpleListFilter):
    title = _("health")
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("ok", _("Delivering")),
            ("failing", _("Failing")),
            ("disabled", _("Disabled")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> QuerySet[WebhookEndpoint]:
        value = self.value()
        if value == "ok":
            return queryset.filter(disabled_at__isnull=True, failing_since__isnull=True)
        if value == "failing":
            return queryset.filter(disabled_at__isnull=True, failing_since__isnull=False)
        if value == "disabled":
            return queryset.filter(disabled_at__isnull=False)
        return queryset


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = [
        "url",
        "company",
        "enabled",
        "last_success_at",
        "last_failure_at",
        "failing_since",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
    ]
    list_filter = [HealthFilter, "disabled_reason"]
    search_fields = ["url", "company__legal_name", "company__credit_code"]
    list_select_related = ["company"]
    fields = [
        "public_id",
        "company",
        "url",
        "description",
        "event_types",
        "created_at",
        "created_by",
        "last_success_at",
        "last_failure_at",
        "failing_since",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "previous_secret_expires_at",
    ]

    @admin.display(boolean=True, description=_("enabled"))
    def enabled(self, obj: WebhookEndpoint) -> bool:
        return obj.enabled


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "endpoint_url",
        "event_type",
        "number",
        "outcome",
        "response_status",
        "latency_ms",
    ]
    list_filter = ["outcome"]
    list_select_related = ["delivery__endpoint", "delivery__event"]
    date_hierarchy = "started_at"
    fields = [
        "delivery",
        "number",
        "started_at",
        "outcome",
        "response_status",
        "latency_ms",
        "response_body",
        "error",
    ]

    @admin.display(description=_("URL"))
    def endpoint_url(self, obj: DeliveryAttempt) -> str:
        return obj.delivery.endpoint.url

    @admin.display(description=_("event type"))
    def event_type(self, obj: DeliveryAttempt) -> str:
        return str(obj.delivery.event.get_type_display())


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "type", "company", "object", "sequence", "created_at"]
    fields = ["public_id", "type", "company", "object", "sequence", "created_at", "payload"]
    readonly_fields = ["object"]
    list_filter = ["type"]
    search_fields = ["public_id", "object_id", "company__legal_name"]
    list_select_related = ["company"]
    date_hierarchy = "created_at"

    @admin.display(description=_("object"))
    def object(self, obj: Event) -> str:
        # A code, as the API names it (order:PO..., card:88...).
        return f"{obj.object_type}:{obj.object_id}"
