"""The API's view of the catalog and of orders. Serializers only shape data: every rule is checked
by the services in ``cards.services`` (line by line, naming the field, the value and the rule)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cards.models import (
    CardProduct,
    DeliveryMethod,
    Order,
    OrderLine,
    PaymentMethod,
    PurchaseRegistration,
)
from cards.services.orders import LineInput, RegistrationInput

# The detail of an order lists at most this many lines; longer orders page through
# /orders/{number}/lines.
ORDER_DETAIL_MAX_LINES = 1000


def money_field(**kwargs: Any) -> serializers.DecimalField:
    """An amount as a string with two decimals ("1234.50")."""
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, **kwargs)


class ProductSerializer(serializers.ModelSerializer[CardProduct]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.CharField(source="display_name", read_only=True)
    card_type_label = serializers.CharField(source="get_card_type_display", read_only=True)
    face_values = serializers.SerializerMethodField(
        help_text=gettext_lazy("The allowed face values; empty when the product uses a range.")
    )
    face_min = money_field(allow_null=True)
    face_max = money_field(allow_null=True)
    face_step = money_field(allow_null=True)
    face_value_cap = money_field()
    validity_months = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy(
            "How many months an anonymous card stays valid after issue; empty for registered "
            "cards, which do not expire."
        ),
    )

    class Meta:
        model = CardProduct
        fields = [
            "id",
            "name",
            "description",
            "card_type",
            "card_type_label",
            "face_values",
            "face_min",
            "face_max",
            "face_step",
            "face_value_cap",
            "validity_months",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_face_values(self, product: CardProduct) -> list[str]:
        return [f"{value:.2f}" for value in product.listed_face_values()]


class OrderLineSerializer(serializers.ModelSerializer[OrderLine]):
    product = serializers.UUIDField(source="product.public_id", read_only=True)
    product_name = serializers.CharField(source="product.display_name", read_only=True)
    face_value = money_field()
    unit_price = serializers.DecimalField(
        max_digits=16,
        decimal_places=4,
        read_only=True,
        help_text=gettext_lazy("Price of one card after discount or fee, to 4 decimals."),
    )
    amount = money_field()

    class Meta:
        model = OrderLine
        fields = [
            "position",
            "product",
            "product_name",
            "face_value",
            "quantity",
            "unit_price",
            "amount",
            "recipient_name",
            "recipient_mobile",
            "recipient_email",
            "employee_id",
            "cost_center",
            "note",
        ]


class RegistrationSerializer(serializers.ModelSerializer[PurchaseRegistration]):
    """The real-name registration as shown: the ID number masked, never in full."""

    id_number = serializers.CharField(source="id_number_masked", read_only=True)
    recorded_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = PurchaseRegistration
        fields = [
            "company_name",
            "credit_code",
            "agent_name",
            "id_type",
            "id_number",
            "recorded_at",
        ]


class OrderSummarySerializer(serializers.ModelSerializer[Order]):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True)
    face_total = money_field()
    total = money_field()

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "status_label",
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
        ]


class OrderDetailSerializer(OrderSummarySerializer):
    approved_by = serializers.EmailField(
        source="approved_by.email", read_only=True, allow_null=True, default=None
    )
    risk_flags = serializers.ListField(child=serializers.CharField(), read_only=True)
    invoice_number = serializers.CharField(
        source="invoice.number", read_only=True, allow_null=True, default=None
    )
    proforma_number = serializers.CharField(
        source="proforma.number", read_only=True, allow_null=True, default=None
    )
    payment_reference = serializers.SerializerMethodField(
        help_text=gettext_lazy("The reference to quote on the bank transfer (prepaid orders).")
    )
    registration = RegistrationSerializer(read_only=True, allow_null=True)
    lines = serializers.SerializerMethodField()
    lines_complete = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "False when the order has more lines than the detail lists; page through "
            "/api/v1/orders/{number}/lines for all of them."
        )
    )

    class Meta(OrderSummarySerializer.Meta):
        fields = [
            *OrderSummarySerializer.Meta.fields,
            "note",
            "needs_approval",
            "risk_flags",
            "approved_by",
            "approved_at",
            "funded_at",
            "closed_at",
            "closing_reason",
            "invoice_number",
            "proforma_number",
            "payment_reference",
            "registration",
            "lines_complete",
            "lines",
        ]

    def get_payment_reference(self, order: Order) -> str | None:
        for invoice in (order.proforma, order.invoice):
            if invoice is not None and invoice.payment_reference:
                return invoice.payment_reference
        return None

    @extend_schema_field(OrderLineSerializer(many=True))
    def get_lines(self, order: Order) -> list[dict[str, Any]]:
        lines = order.lines.select_related("product").order_by("position")[:ORDER_DETAIL_MAX_LINES]
        return list(OrderLineSerializer(lines, many=True).data)

    def get_lines_complete(self, order: Order) -> bool:
        return order.line_count <= ORDER_DETAIL_MAX_LINES


class PassThroughChoiceField(serializers.ChoiceField):
    """Documents the choices, but lets the service refuse a wrong value with the rule named."""

    def to_internal_value(self, data: Any) -> str:
        return data if isinstance(data, str) else str(data)


class OrderLineInputSerializer(serializers.Serializer[Any]):
    """One line of a new order. Every value is checked when the order is created; a refused
    line is reported with its position, field and value."""

    product = serializers.CharField(
        help_text=gettext_lazy("The product's id, from /api/v1/products.")
    )
    face_value = serializers.CharField(
        help_text=gettext_lazy(
            'Face value of each card as a string with at most 2 decimals, e.g. "100" or "99.50".'
        )
    )
    quantity = serializers.IntegerField(min_value=1)
    recipient_name = serializers.CharField(required=False, allow_blank=True)
    recipient_mobile = serializers.CharField(required=False, allow_blank=True)
    recipient_email = serializers.EmailField(required=False, allow_blank=True)
    employee_id = serializers.CharField(required=False, allow_blank=True)
    cost_center = serializers.CharField(required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True)


_LINE_TEXT_FIELDS = (
    "recipient_name",
    "recipient_mobile",
    "recipient_email",
    "employee_id",
    "cost_center",
    "note",
)


def _as_text(value: object) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int, Decimal)):
        return str(value)
    return None


class OrderLinesField(serializers.Field):
    """The lines, taken as sent: the service checks and reports them line by line. (A nested
    serializer per line would cost seconds on an order of 100,000 lines.)"""

    default_error_messages = {"not_a_list": gettext_lazy("Give the lines as a list of objects.")}

    def to_internal_value(self, data: Any) -> list[LineInput]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        lines: list[LineInput] = []
        errors: list[str] = []
        for position, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                errors.append(
                    _("Line %(line)s: give an object with product, face_value and quantity.")
                    % {"line": position}
                )
                continue
            texts: dict[str, str] = {}
            for name in _LINE_TEXT_FIELDS:
                text = _as_text(item.get(name))
                if text is None:
                    errors.append(
                        _("Line %(line)s, %(field)s: give text.")
                        % {"line": position, "field": name}
                    )
                    text = ""
                texts[name] = text
            product = item.get("product")
            face_value = item.get("face_value")
            quantity = item.get("quantity")
            lines.append(
                LineInput(
                    product="" if product is None else str(product),
                    face_value="" if face_value is None else face_value,
                    quantity="" if quantity is None else quantity,
                    **texts,
                )
            )
        if errors:
            raise serializers.ValidationError(errors)
        return lines

    def to_representation(self, value: Any) -> Any:  # pragma: no cover - input only
        return value


class OrderLinesFieldSchema(OpenApiSerializerFieldExtension):
    """``lines`` in the schema: a non-empty list of line objects."""

    target_class = OrderLinesField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        component = auto_schema.resolve_serializer(OrderLineInputSerializer, direction)
        return {"type": "array", "items": component.ref, "minItems": 1}


class RegistrationInputSerializer(serializers.Serializer[Any]):
    """Real-name purchase registration: needed for registered cards and for orders of
    10,000 CNY or more."""

    agent_name = serializers.CharField(allow_blank=True, default="")
    # Not given: empty, and refused with the rule named when the order needs a registration.
    id_type = PassThroughChoiceField(choices=PurchaseRegistration.IdType.choices, required=False)
    id_number = serializers.CharField(allow_blank=True, default="")
    contact_phone = serializers.CharField(allow_blank=True, default="")

    def to_internal_value(self, data: Any) -> RegistrationInput:
        values = super().to_internal_value(data)
        return RegistrationInput(**{"id_type": "", **values})


class OrderCreateSerializer(serializers.Serializer[Any]):
    payment_method = PassThroughChoiceField(
        choices=PaymentMethod.choices, default=PaymentMethod.CREDIT
    )
    delivery_method = PassThroughChoiceField(
        choices=DeliveryMethod.choices, default=DeliveryMethod.FILE
    )
    client_reference = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text=gettext_lazy(
            "Your own reference, unique in your company. Defaults to the Idempotency-Key."
        ),
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    lines = OrderLinesField()
    registration = RegistrationInputSerializer(required=False, allow_null=True)
    submit = serializers.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Submit the order at once. If submission is refused, nothing is created."
        ),
    )


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=500,
        error_messages={
            "required": gettext_lazy("Give a reason; the buyer will see it."),
            "blank": gettext_lazy("Give a reason; the buyer will see it."),
        },
        help_text=gettext_lazy("Why; the order's creator sees it."),
    )
