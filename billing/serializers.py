"""The API's view of invoices, pro-forma invoices and credit notes."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from billing.models import Invoice, InvoiceLine


def money_field(**kwargs: Any) -> serializers.DecimalField:
    """An amount as a string with two decimals ("1234.50")."""
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, **kwargs)


class InvoiceLineSerializer(serializers.ModelSerializer[InvoiceLine]):
    description = serializers.CharField(
        source="text",
        read_only=True,
        help_text=gettext_lazy("What the line is, in the language of the request."),
    )
    description_code = serializers.CharField(
        read_only=True,
        help_text=gettext_lazy(
            "What the line is, as a code (card_sale); empty for a line of free text."
        ),
    )
    description_params = serializers.JSONField(
        read_only=True,
        help_text=gettext_lazy(
            "The facts of the line's code (card_sale: product, product_en, face_value)."
        ),
    )
    face_value = money_field()
    unit_price = serializers.DecimalField(max_digits=16, decimal_places=4, read_only=True)
    amount = money_field()

    class Meta:
        model = InvoiceLine
        fields = [
            "position",
            "description",
            "description_code",
            "description_params",
            "face_value",
            "quantity",
            "unit_price",
            "amount",
        ]


class InvoiceSummarySerializer(serializers.ModelSerializer[Invoice]):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    face_total = money_field()
    total = money_field()
    paid_amount = money_field()
    balance_due = money_field(
        help_text=gettext_lazy("What is still to pay on a sale invoice; 0.00 for other kinds.")
    )

    class Meta:
        model = Invoice
        fields = [
            "number",
            "kind",
            "kind_label",
            "status",
            "status_label",
            "order_number",
            "issue_date",
            "due_date",
            "face_total",
            "total",
            "paid_amount",
            "balance_due",
            "payment_reference",
        ]


class InvoiceDetailSerializer(InvoiceSummarySerializer):
    discount_total = money_field(
        help_text=gettext_lazy("Face value total minus total: a discount, or a fee if negative.")
    )
    credited_invoice = serializers.CharField(
        source="credited_invoice.number", read_only=True, allow_null=True, default=None
    )
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta(InvoiceSummarySerializer.Meta):
        fields = [
            *InvoiceSummarySerializer.Meta.fields,
            "discount_total",
            "buyer_name",
            "buyer_credit_code",
            "tax_category",
            "credited_invoice",
            "note",
            "lines",
        ]
