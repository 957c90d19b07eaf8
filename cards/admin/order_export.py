"""django-import-export in the operators' admin: export of orders and of order lines, in the
safe formats of ``billing.admin.import_`` (formula cells neutralised, identifiers text, amounts
numbers). Export only: orders change through the services, never through a file.

Whitelisted columns: never a card code or secret, never a purchase registration (its ID number);
lines carry what the admin's order page shows of a recipient (the name, the employee ID and the
cost center), not their email or mobile.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from import_export import fields, resources
from import_export.admin import ExportMixin

from billing.admin import ReadOnlyAdmin
from billing.admin.base import money_column
from billing.admin.import_ import PlainDecimalWidget, SafeFormatsMixin
from cards.admin.orders import OrderAdmin
from cards.models import Order, OrderLine


def _money(attribute: str, column: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column, widget=PlainDecimalWidget())


class OrderResource(resources.ModelResource):
    number = fields.Field(attribute="number", column_name="number")
    company = fields.Field(attribute="company__legal_name", column_name="company")
    credit_code = fields.Field(attribute="company__credit_code", column_name="credit_code")
    status = fields.Field(attribute="status", column_name="status")
    payment_method = fields.Field(attribute="payment_method", column_name="payment_method")
    delivery_method = fields.Field(attribute="delivery_method", column_name="delivery_method")
    client_reference = fields.Field(attribute="client_reference", column_name="client_reference")
    face_total = _money("face_total", "face_total")
    total = _money("total", "total")
    card_count = fields.Field(attribute="card_count", column_name="card_count")
    line_count = fields.Field(attribute="line_count", column_name="line_count")
    created_by = fields.Field(attribute="created_by__email", column_name="created_by")
    created_at = fields.Field(attribute="created_at", column_name="created_at")
    submitted_at = fields.Field(attribute="submitted_at", column_name="submitted_at")
    funded_at = fields.Field(attribute="funded_at", column_name="funded_at")

    class Meta:
        model = Order
        fields = (
            "number",
            "company",
            "credit_code",
            "status",
            "payment_method",
            "delivery_method",
            "client_reference",
            "face_total",
            "total",
            "card_count",
            "line_count",
            "created_by",
            "created_at",
            "submitted_at",
            "funded_at",
        )
        export_order = fields

    def filter_export(self, queryset: QuerySet[Order], **kwargs: Any) -> QuerySet[Order]:
        return queryset.select_related("company", "created_by")


class OrderLineResource(resources.ModelResource):
    order = fields.Field(attribute="order__number", column_name="order")
    company = fields.Field(attribute="order__company__legal_name", column_name="company")
    status = fields.Field(attribute="order__status", column_name="status")
    position = fields.Field(attribute="position", column_name="line")
    product = fields.Field(attribute="product__name", column_name="product")
    face_value = _money("face_value", "face_value")
    quantity = fields.Field(attribute="quantity", column_name="quantity")
    unit_price = _money("unit_price", "unit_price")
    amount = _money("amount", "amount")
    recipient_name = fields.Field(attribute="recipient_name", column_name="recipient_name")
    employee_id = fields.Field(attribute="employee_id", column_name="employee_id")
    cost_center = fields.Field(attribute="cost_center", column_name="cost_center")

    class Meta:
        model = OrderLine
        fields = (
            "order",
            "company",
            "status",
            "position",
            "product",
            "face_value",
            "quantity",
            "unit_price",
            "amount",
            "recipient_name",
            "employee_id",
            "cost_center",
        )
        export_order = fields

    def filter_export(self, queryset: QuerySet[OrderLine], **kwargs: Any) -> QuerySet[OrderLine]:
        return queryset.select_related("order__company", "product")


admin.site.unregister(Order)


@admin.register(Order)
class OrderExportAdmin(SafeFormatsMixin, ExportMixin, OrderAdmin):
    """The orders admin (read-only) with an export of the listed orders."""

    resource_classes = [OrderResource]


@admin.register(OrderLine)
class OrderLineAdmin(SafeFormatsMixin, ExportMixin, ReadOnlyAdmin):
    """Order lines, read-only, to filter and export (the order page shows them too)."""

    list_display = [
        "order",
        "position",
        "product",
        money_column(OrderLine, "face_value"),
        "quantity",
        money_column(OrderLine, "amount"),
    ]
    list_filter = ["order__status", "order__created_at"]
    list_select_related = ["order", "product"]
    search_fields = ["order__number", "order__company__legal_name", "recipient_name"]
    fields = [
        "order",
        "position",
        "product",
        "face_value",
        "quantity",
        "unit_price",
        "amount",
        "recipient_name",
        "employee_id",
        "cost_center",
    ]
    resource_classes = [OrderLineResource]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).order_by("-order__created_at", "order_id", "position")
