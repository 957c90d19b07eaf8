"""Operators see each company's single sign-on (never its secret); owners change it in the
portal, where it is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from sso.models import SsoConfig, SsoDomain


class SsoDomainInline(admin.TabularInline):
    model = SsoDomain
    fields = ("domain",)
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SsoConfig)
class SsoConfigAdmin(admin.ModelAdmin):
    list_display = ("company", "issuer", "enabled", "required", "mfa_satisfies_2fa", "updated_at")
    list_filter = ("enabled", "required")
    search_fields = ("company__legal_name", "issuer", "domains__domain")
    fields = (
        "company",
        "issuer",
        "client_id",
        "enabled",
        "required",
        "mfa_satisfies_2fa",
        "mfa_acr_values",
        "session_minutes",
        "updated_at",
        "updated_by",
    )
    readonly_fields = fields
    inlines = (SsoDomainInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
