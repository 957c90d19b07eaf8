"""API shapes of order files (/api/v1/order-uploads): what is sent, and what a check reports."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from cards.models import DeliveryMethod, OrderUpload, PaymentMethod, UploadStatus
from cards.services.uploads import upload_progress, upload_result_for_reader
from portal.api.schema import text_enum


class OrderUploadCreateSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text=_("The order file: CSV (UTF-8, UTF-8 with BOM or GBK) or XLSX.")
    )
    payment_method = serializers.ChoiceField(
        choices=PaymentMethod.choices, default=PaymentMethod.CREDIT
    )
    delivery_method = serializers.ChoiceField(
        choices=DeliveryMethod.choices, default=DeliveryMethod.FILE
    )


class OrderUploadConfirmSerializer(serializers.Serializer[Any]):
    allow_duplicate = serializers.BooleanField(
        default=False,
        help_text=_(
            "Create the order even though the same file already made an order for your company."
        ),
    )


class OrderUploadProgressSerializer(serializers.Serializer[Any]):
    status = text_enum(UploadStatus.values)
    status_label = serializers.CharField(help_text=_("The status, in the request's language."))
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField()
    percent = serializers.IntegerField(min_value=0, max_value=100)
    finished = serializers.BooleanField()
    error_count = serializers.IntegerField()
    failure = serializers.CharField(
        help_text=_("Why the file could not be read; empty unless the status is failed.")
    )


class OrderUploadNoteSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(help_text=_("The row of the file, counted from 1."))
    message = serializers.CharField()


class OrderUploadWarningSerializer(serializers.Serializer[Any]):
    rows = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("The rows the warning is about.")
    )
    message = serializers.CharField()


class OrderUploadErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField()
    column = serializers.CharField(help_text=_("The column's name; empty for the whole file."))
    value = serializers.CharField()
    reason = serializers.CharField()


class OrderUploadTotalSerializer(serializers.Serializer[Any]):
    product = serializers.UUIDField()
    product_name = serializers.CharField()
    face_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    lines = serializers.IntegerField()
    cards = serializers.IntegerField()
    face_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


# The outcome of a finished check. (A serializer class cannot declare a field named "errors": it
# would shadow Serializer.errors; hence the inline form.)
OrderUploadResultSerializer = inline_serializer(
    name="OrderUploadResult",
    allow_null=True,
    fields={
        "language": serializers.CharField(help_text=_("The language the file was checked in.")),
        "header": serializers.ListField(
            child=serializers.CharField(), help_text=_("The header row, as read.")
        ),
        "columns": serializers.DictField(
            child=serializers.IntegerField(),
            help_text=_("Which column (counted from 0) holds each order field."),
        ),
        "unknown_columns": serializers.ListField(
            child=serializers.CharField(), help_text=_("Header names that are not used.")
        ),
        "totals": OrderUploadTotalSerializer(
            many=True, help_text=_("Cards and amount per product and face value.")
        ),
        "line_count": serializers.IntegerField(),
        "card_count": serializers.IntegerField(),
        "face_total": serializers.DecimalField(max_digits=14, decimal_places=2),
        "total": serializers.DecimalField(
            max_digits=14, decimal_places=2, help_text=_("The order price, in CNY.")
        ),
        "total_label": serializers.CharField(help_text=_("The order price, written for people.")),
        "needs_registration": serializers.BooleanField(
            help_text=_(
                "Confirming needs a real-name registration (registered cards, or a large order)."
            )
        ),
        "notes": OrderUploadNoteSerializer(many=True),
        "note_count": serializers.IntegerField(),
        "warnings": OrderUploadWarningSerializer(many=True),
        "warning_count": serializers.IntegerField(),
        "errors": OrderUploadErrorSerializer(
            many=True,
            help_text=_("Each error's row, column, value and reason; at most the first 1,000."),
        ),
        "error_count": serializers.IntegerField(help_text=_("All errors, also those not listed.")),
        "duplicate_of": serializers.ListField(
            child=serializers.CharField(),
            help_text=_("Numbers of the orders already made from the same file."),
        ),
    },
)


# What a check stores besides its result, for the server's own use (never in an answer).
_RESULT_FIELDS = tuple(OrderUploadResultSerializer.fields)


class OrderUploadSerializer(serializers.ModelSerializer[OrderUpload]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    order = serializers.CharField(
        source="order.number",
        read_only=True,
        allow_null=True,
        help_text=_("The number of the order made from this file, once confirmed."),
    )
    progress = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    poll_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = OrderUpload
        fields = [
            "id",
            "file_name",
            "file_size",
            "file_format",
            "encoding",
            "payment_method",
            "delivery_method",
            "status",
            "failure",
            "rows_total",
            "error_count",
            "progress",
            "result",
            "order",
            "created_at",
            "checked_at",
            "confirmed_at",
            "poll_url",
            "errors_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OrderUploadProgressSerializer)
    def get_progress(self, upload: OrderUpload) -> dict[str, Any]:
        return dict(upload_progress(upload, fresh=False))  # the same read as status and result

    @extend_schema_field(OrderUploadResultSerializer)
    def get_result(self, upload: OrderUpload) -> dict[str, Any] | None:
        if not (upload.finished and upload.result and "totals" in upload.result):
            return None
        result = {**upload_result_for_reader(upload.result), "error_count": upload.error_count}
        return {name: result[name] for name in _RESULT_FIELDS if name in result}

    def get_poll_url(self, upload: OrderUpload) -> str:
        return reverse("api-order-upload-detail", kwargs={"public_id": upload.public_id})

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_errors_url(self, upload: OrderUpload) -> str | None:
        if not upload.error_count:
            return None
        return reverse("api-order-upload-errors", kwargs={"public_id": upload.public_id})
