"""How codes reach people: downloads of the encrypted file, and one-time links to recipients."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models.issuance import Card
from cards.models.ordering import Order, OrderLine


class CodeDownload(models.Model):
    """One download of an order's codes. The archive's password is shown once and never
    stored, not even hashed."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="code_downloads")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=pgettext_lazy("downloaded by", "by"),
    )
    via_api = models.BooleanField(_("through the API"), default=False)
    card_count = models.PositiveIntegerField(_("cards"))
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("code download")
        verbose_name_plural = _("code downloads")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.order.number} {self.created_at:%Y-%m-%d %H:%M}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to send")
    SENT = "sent", _("Sent")
    OPENED = "opened", _("Opened")
    REVEALED = "revealed", _("Code shown")
    BOUNCED = "bounced", _("Bounced")
    FAILED = "failed", _("Could not send")


class RecipientDelivery(models.Model):
    """One card sent to one recipient by email and/or SMS with a one-time link. Only a digest
    of the link's token is stored."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="deliveries")
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="deliveries")
    card = models.OneToOneField(Card, on_delete=models.PROTECT, related_name="delivery")
    recipient_name = models.CharField(_("recipient"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    token_digest = models.BinaryField(null=True, unique=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveSmallIntegerField(_("times sent"), default=0)
    recipient_changes = models.PositiveSmallIntegerField(_("recipient changes"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    revealed_at = models.DateTimeField(_("code shown at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("recipient delivery")
        verbose_name_plural = _("recipient deliveries")
        ordering = ["order_id", "line__position"]
        indexes = [models.Index(fields=["order", "status"], name="delivery_order_status")]

    def __str__(self) -> str:
        return f"{self.order.number} → {self.recipient_name or self.email or self.mobile}"
