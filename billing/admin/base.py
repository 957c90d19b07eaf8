"""What every billing and cards admin page builds on: read-only admins and inlines for
evidence, and service errors shown on a form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from billing.money import format_cny


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, changed or deleted from the admin."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        shown = self.fields or [field.name for field in self.model._meta.fields]
        return list(dict.fromkeys([*shown, *self.readonly_fields]))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields or [])  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _service_errors(form: forms.ModelForm, exc: ValidationError) -> None:
    """Show a service's field errors on the form's fields (others at the top)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def money_column(model: type[models.Model], field: str) -> Callable[[Any], str]:
    """A changelist column showing a money field as ¥12,345.60 (the admin's own number format
    has no thousands separator), under the field's label and sorted by it."""

    label = model._meta.get_field(field).verbose_name  # type: ignore[union-attr]

    @admin.display(description=label, ordering=field)
    def column(obj: Any) -> str:
        value = getattr(obj, field)
        return "-" if value is None else format_cny(value)

    column.__name__ = f"{field}_cny"
    return column
