"""Operators' admin for the catalog: card products, face values typed as a list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cards.face_values import face_value_list
from cards.models import CardProduct
from cards.services.catalog import PRODUCT_FIELDS, product_create, product_update
from portal.models import User
from portal.services.audit import client_ip


class CardProductForm(forms.ModelForm):
    """Face values typed as "100, 200, 500" rather than JSON; the rules are in the model's
    ``clean`` (the prepaid card caps and validity, each error naming its rule)."""

    face_values = forms.CharField(
        label=_("face values"),
        required=False,
        help_text=_("Separate values with commas, such as 100, 200, 500; leave empty for a range."),
    )

    class Meta:
        model = CardProduct
        fields = [
            "name",
            "name_en",
            "description",
            "description_en",
            "card_type",
            "face_values",
            "face_min",
            "face_max",
            "face_step",
            "validity_months",
            "active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.face_values:
            self.initial["face_values"] = ", ".join(
                f"{value:f}" for value in self.instance.listed_face_values()
            )

    def clean_face_values(self) -> list[str]:
        return face_value_list(self.cleaned_data.get("face_values"))


@admin.register(CardProduct)
class CardProductAdmin(admin.ModelAdmin):
    form = CardProductForm
    list_display = [
        "name",
        "name_en",
        "card_type",
        "face_values_label",
        "validity_months",
        "active",
    ]
    list_filter = ["card_type", "active"]
    search_fields = ["name", "name_en"]
    readonly_fields = ["public_id", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Orders keep pointing at their products: take a product off sale instead.
        return False

    def save_model(self, request: HttpRequest, obj: CardProduct, form: Any, change: bool) -> None:
        # The form has checked the values and set them on ``obj``; the services write them.
        actor: User = request.user  # type: ignore[assignment]
        if change:
            saved = product_update(
                product=obj,
                changes={
                    name: getattr(obj, name) for name in form.changed_data if name in PRODUCT_FIELDS
                },
                actor=actor,
                ip=client_ip(request),
            )
        else:
            saved = product_create(
                values={name: getattr(obj, name) for name in form.fields if name in PRODUCT_FIELDS},
                actor=actor,
                ip=client_ip(request),
            )
        # The admin goes on with ``obj`` (the change message, the redirect).
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    @admin.display(description=_("face values"))
    def face_values_label(self, obj: CardProduct) -> str:
        return obj.face_values_label
