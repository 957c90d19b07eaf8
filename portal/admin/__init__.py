from __future__ import annotations

from typing import Any

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp import admin as otp_totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.admin.companies import CompanyAdmin
from portal.models import (
    AuditEvent,
    Invitation,
    OutboxMessage,
    User,
)
from portal.services.audit import client_ip
from portal.services.users import user_set_active
from portal.third_party_strings import TOTP_FIELDSETS


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "last_login"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]
    actions = ["deactivate", "reactivate"]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # Activation changes go through the service: deactivation deletes the user's sessions.
        active = obj.is_active
        toggled = change and "is_active" in form.changed_data
        if toggled:
            obj.is_active = not active
        super().save_model(request, obj, form, change)
        if toggled:
            user_set_active(
                user=obj,
                active=active,
                actor=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            )

    def _set_active(self, request: HttpRequest, queryset: Any, active: bool) -> int:
        users = list(queryset.order_by("pk"))
        for user in users:
            user_set_active(
                user=user,
                active=active,
                actor=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            )
        return len(users)

    @admin.action(description=_("Deactivate the selected users (ends their sessions)"))
    def deactivate(self, request: HttpRequest, queryset: Any) -> None:
        count = self._set_active(request, queryset, False)
        self.message_user(
            request,
            ngettext(
                "%(count)d user deactivated; their sessions are ended.",
                "%(count)d users deactivated; their sessions are ended.",
                count,
            )
            % {"count": count},
        )

    @admin.action(description=_("Reactivate the selected users"))
    def reactivate(self, request: HttpRequest, queryset: Any) -> None:
        count = self._set_active(request, queryset, True)
        self.message_user(
            request,
            ngettext("%(count)d user reactivated.", "%(count)d users reactivated.", count)
            % {"count": count},
        )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "company", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role"]
    search_fields = ["email", "company__legal_name"]
    readonly_fields = [f.name for f in Invitation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Owners revoke invitations in the portal, where it is audited.
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is evidence. The database refuses changes anyway."""

    list_display = ["created_at", "actor_label", "company", "action", "object_type", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_id", "company__legal_name"]
    date_hierarchy = "created_at"
    list_select_related = ["company"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: follow-ups waiting for the broker (unpublished) and recently published ones.
    The relay publishes what waits; nothing here is edited by hand."""

    list_display = ["id", "task", "args", "created_at", "published_at", "attempts", "last_error"]
    list_filter = [("published_at", admin.EmptyFieldListFilter), "task"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in OutboxMessage._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TOTPDeviceAdmin(otp_totp_admin.TOTPDeviceAdmin):
    """django-otp's device admin with its headings, search help and QR column translated."""

    search_help_text = _("Search by the user's email address.")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            (TOTP_FIELDSETS.get(title, title) if title else None, options)
            for title, options in super().get_fieldsets(request, obj)
        ]

    @admin.display(description=_("QR code"))
    def qrcode_link(self, device: TOTPDevice) -> str:
        href = reverse("admin:otp_totp_totpdevice_config", kwargs={"pk": device.pk})
        return format_html('<a href="{}">{}</a>', href, _("QR code"))


admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, TOTPDeviceAdmin)


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' attempts, whose status column is otherwise headed by its method's name."""

    @admin.display(description=_("status"))
    def status(self, obj: AccessAttempt) -> str:
        return str(super().status(obj))


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)


__all__ = ["CompanyAdmin"]
