"""Order files: a CSV or XLSX a buyer uploads, checked (a dry run), then confirmed into one draft
order. The file is kept so the check can run again (in a worker for large files, and at confirm
time against the catalog and prices of that moment) and so the error file can be rebuilt."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models.ordering import DeliveryMethod, Order, PaymentMethod
from portal.models import ApiKey, Company


class UploadStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    CHECKING = "checking", _("Checking")
    VALID = "valid", _("Ready to confirm")
    INVALID = "invalid", _("Has errors")
    FAILED = "failed", _("Could not be read")
    CONFIRMED = "confirmed", _("Order created")
    DISCARDED = "discarded", _("Discarded")


def _upload_path(instance: OrderUpload, filename: str) -> str:
    # The stored name is ours, never the buyer's: no path tricks, no personal data in paths.
    return f"order-uploads/{instance.company_id}/{instance.public_id}"


class OrderUpload(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="order_uploads", verbose_name=_("company")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_via_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Uploaded by an operator on the company's behalf (admin import).
    on_behalf = models.BooleanField(_("uploaded by support"), default=False)
    file = models.FileField(upload_to=_upload_path, max_length=200)
    file_name = models.CharField(_("file name"), max_length=200)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"))
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file_format = models.CharField(_("format"), max_length=8, blank=True)  # csv / xlsx
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    payment_method = models.CharField(
        pgettext_lazy("payment method", "payment"),
        max_length=16,
        choices=PaymentMethod.choices,
        default=PaymentMethod.CREDIT,
    )
    delivery_method = models.CharField(
        _("delivery"), max_length=16, choices=DeliveryMethod.choices, default=DeliveryMethod.FILE
    )
    status = models.CharField(
        _("status"), max_length=16, choices=UploadStatus.choices, default=UploadStatus.RECEIVED
    )
    # Progress of the check (rows read of rows in the file, when known).
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # The check's outcome: totals per product and face value, price, notes on skipped rows,
    # warnings (duplicate recipients), and the errors (row, column, value, reason), capped.
    result = models.JSONField(default=dict, blank=True)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    failure = models.CharField(_("reason"), max_length=500, blank=True)
    order = models.OneToOneField(
        Order,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="upload",
        verbose_name=_("order"),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("order file")
        verbose_name_plural = _("order files")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="order_upload_company_time"),
            models.Index(fields=["company", "file_sha256"], name="order_upload_company_sha"),
        ]

    def __str__(self) -> str:
        return self.file_name

    @property
    def finished(self) -> bool:
        return self.status not in (UploadStatus.RECEIVED, UploadStatus.CHECKING)
