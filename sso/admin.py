"""Operators see each company's single sign-on (never its secret); owners change it in the
portal, where it is audited. An operator can only stop requiring it, when a company's provider
fails and its members are locked out."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.services.audit import client_ip
from sso.models import SsoConfig, SsoDomain
from sso.services import sso_config_stop_requiring


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
    actions = ("stop_requiring",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_relax_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sso.change_ssoconfig")

    @admin.action(
        description=gettext_lazy("Let members use their passwords again"),
        permissions=["relax"],
    )
    def stop_requiring(self, request: HttpRequest, queryset: QuerySet[SsoConfig]) -> None:
        for config in queryset.select_related("company").order_by("pk"):
            if sso_config_stop_requiring(
                config=config,
                actor=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            ):
                self.message_user(
                    request,
                    _("%(company)s: members can sign in with their passwords again.")
                    % {"company": config.company},
                    messages.SUCCESS,
                )
