"""API shapes of order files (/api/v1/order-uploads): what is sent, and what a check reports."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from cards.models import DeliveryMethod, OrderUpload, PaymentMethod
from cards.services.uploads import upload_progress, upload_result_for_reader


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


_ProgressSerializer = inline_serializer(
    name="OrderUploadProgress",
    fields={
        "status": serializers.CharField(),
        "rows_done": serializers.IntegerField(),
        "rows_total": serializers.IntegerField(),
        "percent": serializers.IntegerField(),
        "finished": serializers.BooleanField(),
    },
)

_ResultSerializer = inline_serializer(
    name="OrderUploadResult",
    fields={
        "totals": serializers.ListField(
            child=serializers.DictField(),
            help_text=_("Cards and amount per product and face value."),
        ),
        "card_count": serializers.IntegerField(),
        "face_total": serializers.CharField(),
        "total": serializers.CharField(help_text=_("The order price, in CNY.")),
        "notes": serializers.ListField(child=serializers.CharField()),
        "warnings": serializers.ListField(child=serializers.CharField()),
        "errors": serializers.ListField(
            child=serializers.DictField(),
            help_text=_("Each error's row, column, value and reason; at most the first 1,000."),
        ),
        "error_count": serializers.IntegerField(),
        "duplicate_of": serializers.CharField(allow_null=True),
    },
)


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

    @extend_schema_field(_ProgressSerializer)
    def get_progress(self, upload: OrderUpload) -> dict[str, Any]:
        return dict(upload_progress(upload, fresh=False))  # the same read as status and result

    @extend_schema_field(_ResultSerializer)
    def get_result(self, upload: OrderUpload) -> dict[str, Any] | None:
        if not (upload.finished and upload.result):
            return None
        return upload_result_for_reader(upload.result)

    def get_poll_url(self, upload: OrderUpload) -> str:
        return reverse("api-order-upload-detail", kwargs={"public_id": upload.public_id})

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_errors_url(self, upload: OrderUpload) -> str | None:
        if not upload.error_count:
            return None
        return reverse("api-order-upload-errors", kwargs={"public_id": upload.public_id})
