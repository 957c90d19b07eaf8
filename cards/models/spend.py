"""Merchants, their API keys and holds: what the merchant API (card spend) writes besides card
transactions.

A merchant key's secret is stored only as a SHA-256 digest, like a buyer's key; it is shown once.
A hold reserves part of a card's balance (``Card.held``) until it is captured, released or expires.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models.issuance import Card


class MerchantStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("merchant status", "Active")
    SUSPENDED = "suspended", pgettext_lazy("merchant status", "Suspended")


class Merchant(models.Model):
    """A retailer that accepts the issuer's cards. Set up by operators."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=MerchantStatus.choices, default=MerchantStatus.ACTIVE
    )
    settlement_account_name = models.CharField(_("settlement account name"), max_length=200)
    settlement_bank = models.CharField(_("settlement bank"), max_length=200)
    settlement_account_number = models.CharField(_("settlement account number"), max_length=64)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MerchantApiKey(models.Model):
    """A merchant's API key, limited by its scopes. Frozen by a burst of failed look-ups or a
    canary code (until an operator unfreezes it); revoked for good."""

    class Scope(models.TextChoices):
        BALANCE = "balance", _("Check balances")
        REDEEM = "redeem", _("Redeem, hold and capture")
        REFUND = "refund", _("Refund and void redemptions")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("merchant")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("key prefix"), max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    frozen_reason = models.CharField(_("why frozen"), max_length=200, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("merchant API key")
        verbose_name_plural = _("merchant API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.merchant} {self.shown_prefix}…"

    @property
    def shown_prefix(self) -> str:
        """How a key is named where its secret is not shown: ``ecm_<prefix>_``."""
        return f"ecm_{self.prefix}_"


class HoldStatus(models.TextChoices):
    HELD = "held", _("Held")
    CAPTURED = "captured", _("Captured")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", pgettext_lazy("hold status", "Expired")


class CardHold(models.Model):
    """An authorisation: ``amount`` of the card's balance reserved for one merchant until it is
    captured (all or part), released, or it expires by itself at ``expires_at``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    card = models.ForeignKey(
        Card, on_delete=models.PROTECT, related_name="holds", verbose_name=_("card")
    )
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="holds", verbose_name=_("merchant")
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    captured = models.DecimalField(
        _("captured"), max_digits=14, decimal_places=2, default=0, db_default=0
    )
    status = models.CharField(
        _("status"), max_length=16, choices=HoldStatus.choices, default=HoldStatus.HELD
    )
    merchant_reference = models.CharField(_("merchant reference"), max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=160, null=True, blank=True, unique=True)
    request_digest = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_gt_0"),
            models.CheckConstraint(
                condition=models.Q(captured__gte=0, captured__lte=models.F("amount")),
                name="hold_captured_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="hold_status_expires")]

    def __str__(self) -> str:
        return f"{self.card} {self.amount} {self.get_status_display()}"


class LookupFailureReason(models.TextChoices):
    """Why a code found no usable card. Kept for operators only: the merchant API answers every
    one of them the same way."""

    MALFORMED = "malformed", _("Not a code (empty, or far too long)")
    FOREIGN = "foreign", _("Not our code format (wrong length or symbols)")
    CHECK = "check", _("Wrong check symbol (a typo)")
    UNKNOWN = "unknown", _("No card has this code")
    FROZEN = "frozen", _("The card is frozen")
    VOIDED = "voided", _("The card is voided")
    EXPIRED = "expired", _("The card has expired")
    CANARY = "canary", _("A canary card (never sold): the key was frozen")


class LookupBlock(models.Model):
    """A subject of the merchant API (a key, a merchant, a client address, a code prefix) that
    has failed as many card look-ups as its limit allows in the current window, until the window
    ends. Written when a failure reaches the limit (the counts are in the cache); read by every
    look-up in the same statement that finds the card, so a look-up pays no extra round trip
    for its limits. Expired rows are swept with the expired holds."""

    subject = models.CharField(max_length=80, unique=True)
    until = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("look-up block")
        verbose_name_plural = _("look-up blocks")

    def __str__(self) -> str:
        return self.subject


class MerchantLookupFailure(models.Model):
    """One failed card look-up at the merchant API, with its real reason. Never the code: at most
    the first digits of the serial of the card it found. Append-only."""

    class Endpoint(models.TextChoices):
        BALANCE = "balance", _("Balance check")
        REDEEM = "redeem", _("Redemption")
        HOLD = "hold", _("Hold")

    key = models.ForeignKey(
        MerchantApiKey,
        on_delete=models.PROTECT,
        related_name="lookup_failures",
        verbose_name=_("API key"),
    )
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        related_name="lookup_failures",
        verbose_name=_("merchant"),
    )
    client_ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    endpoint = models.CharField(_("request"), max_length=16, choices=Endpoint.choices)
    reason = models.CharField(_("reason"), max_length=16, choices=LookupFailureReason.choices)
    serial_prefix = models.CharField(_("serial prefix"), max_length=16, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("failed card look-up")
        verbose_name_plural = _("failed card look-ups")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="lookupfail_created"),
            models.Index(fields=["merchant", "-created_at"], name="lookupfail_merchant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {self.get_reason_display()}"
