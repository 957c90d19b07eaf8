"""django-import-export for the catalog.

Card products: every imported row runs through the model's ``full_clean()``, so the prepaid card
rules of ``CardProduct.clean`` (face value caps, bearer validity...) show in the library's
preview, named, per row; the preview runs in a transaction that is rolled back and a file with
an invalid row cannot be confirmed, so a bad file writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportMixin

from billing.admin.import_ import (
    CompanyByCreditCodeWidget,
    PlainDecimalWidget,
    SafeFormatsMixin,
    invalid_row,
)
from cards.admin.catalog import CardProductAdmin
from cards.face_values import face_value_list
from cards.models import CardProduct, CardType
from cards.services.catalog import PRODUCT_FIELDS, product_create, product_update
from portal.models import User

# --- Card products -------------------------------------------------------------------------------


class FaceValuesWidget(widgets.Widget):
    """A fixed list of face values written ``100, 200, 500`` (full-width commas too); the model
    checks each value against the prepaid card rules."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        return face_value_list(value)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        if obj is not None and isinstance(obj, CardProduct):
            return ", ".join(f"{amount:f}" for amount in obj.listed_face_values())
        return ", ".join(str(item) for item in value or [])


class CardTypeWidget(widgets.Widget):
    """``bearer`` or ``registered`` (the labels in either language are accepted too)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        text = str(value or "").strip()
        for choice, label in CardType.choices:
            if text.lower() in (choice, str(label).lower()):
                return str(choice)
        raise ValueError(
            _("Card type “%(value)s” is unknown; use bearer or registered.") % {"value": text}
        )

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return str(value or "")


class OptionalIntegerWidget(widgets.Widget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = str(value if value is not None else "").strip()
        if not text:
            return None
        try:
            number = PlainDecimalWidget().clean(text)
        except ValueError as exc:
            raise ValueError(_("“%(value)s” is not a whole number.") % {"value": text}) from exc
        if number is None or number != number.to_integral_value():
            raise ValueError(_("“%(value)s” is not a whole number.") % {"value": text})
        return int(number)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class CardProductResource(resources.ModelResource):
    """Products by ``public_id``: a row without one is a new product."""

    public_id = fields.Field(attribute="public_id", column_name="public_id", readonly=True)
    name = fields.Field(attribute="name", column_name="name")
    name_en = fields.Field(attribute="name_en", column_name="name_en")
    description = fields.Field(attribute="description", column_name="description")
    description_en = fields.Field(attribute="description_en", column_name="description_en")
    card_type = fields.Field(
        attribute="card_type", column_name="card_type", widget=CardTypeWidget()
    )
    face_values = fields.Field(
        attribute="face_values", column_name="face_values", widget=FaceValuesWidget()
    )
    face_min = fields.Field(
        attribute="face_min", column_name="face_min", widget=PlainDecimalWidget()
    )
    face_max = fields.Field(
        attribute="face_max", column_name="face_max", widget=PlainDecimalWidget()
    )
    face_step = fields.Field(
        attribute="face_step", column_name="face_step", widget=PlainDecimalWidget()
    )
    validity_months = fields.Field(
        attribute="validity_months", column_name="validity_months", widget=OptionalIntegerWidget()
    )
    active = fields.Field(attribute="active", column_name="active", widget=widgets.BooleanWidget())
    company = fields.Field(
        attribute="company",
        column_name="only_for_company",
        widget=CompanyByCreditCodeWidget(required=False),
    )

    class Meta:
        model = CardProduct
        fields = (
            "public_id",
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
            "company",
        )
        export_order = fields
        import_id_fields = ("public_id",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # A file of new products needs no public_id column.
        if dataset.headers and "public_id" not in dataset.headers:
            dataset.append_col([""] * len(dataset), header="public_id")

    def get_instance(self, instance_loader: Any, row: Any) -> CardProduct | None:
        raw = str(row.get("public_id") or "").strip()
        if not raw:
            return None
        try:
            return CardProduct.objects.get(public_id=raw)
        except (CardProduct.DoesNotExist, ValidationError, ValueError) as exc:
            raise ValidationError(
                {
                    "public_id": _(
                        "No product has the id “%(value)s”; leave public_id empty to add a "
                        "new product."
                    )
                    % {"value": raw}
                }
            ) from exc

    def import_row(self, row: Any, instance_loader: Any, **kwargs: Any) -> Any:
        # An unknown public_id is the row's validation error, not a crash of the import.
        try:
            self.get_instance(instance_loader, row)
        except ValidationError as exc:
            return invalid_row(self, exc.message_dict)
        return super().import_row(row, instance_loader, **kwargs)

    def save_instance(
        self, instance: CardProduct, is_create: bool, row: Any, **kwargs: Any
    ) -> None:
        # Written by the catalog services, which keep the audit trail (one row per product).
        user, ip = kwargs.get("user"), kwargs.get("ip")
        actor = user if isinstance(user, User) else None
        values = {name: getattr(instance, name) for name in PRODUCT_FIELDS}
        if is_create:
            saved = product_create(values=values, actor=actor, ip=ip)
            instance.pk, instance.public_id = saved.pk, saved.public_id
        else:
            product_update(product=instance, changes=values, actor=actor, ip=ip)


admin.site.unregister(CardProduct)


@admin.register(CardProduct)
class CardProductImportExportAdmin(SafeFormatsMixin, ImportExportMixin, CardProductAdmin):
    """The catalog admin (form, list, no delete) with import and export of products."""

    resource_classes = [CardProductResource]
