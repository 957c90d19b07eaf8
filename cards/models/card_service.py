"""Card service by operators and what merchants are owed: requests that need a second operator
(maker-checker), and the daily settlement of each merchant.

A void or a reissue of more than ``CARD_SERVICE_SECOND_OPERATOR_ABOVE`` is not done by the
operator who asks for it: it waits as a ``CardServiceRequest`` until another operator approves
it (the database refuses an approval by the requester) or someone rejects it.

A ``MerchantSettlement`` sums one merchant's redemptions, refunds and voided redemptions of one
Asia/Shanghai day; it is paid once, when an operator records the bank transfer.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models.issuance import Card
from cards.models.spend import Merchant


class CardServiceRequest(models.Model):
    """An operator's void, reissue or exchange waiting for a second operator."""

    class Action(models.TextChoices):
        VOID = "void", pgettext_lazy("card service", "Void")
        REISSUE = "reissue", _("Report lost and reissue")
        EXCHANGE = "exchange", _("Exchange an expired card")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a second operator")
        APPROVED = "approved", pgettext_lazy("card service request", "Approved")
        REJECTED = "rejected", pgettext_lazy("card service request", "Rejected")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    card = models.ForeignKey(
        Card, on_delete=models.PROTECT, related_name="service_requests", verbose_name=_("card")
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    reason = models.CharField(_("reason"), max_length=500)
    # The card's balance when it was asked for (the act moves the balance at approval).
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("why rejected"), max_length=500, blank=True)
    # The card that a reissue or an exchange made.
    new_card = models.OneToOneField(
        Card,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("new card"),
    )

    class Meta:
        verbose_name = _("card service request")
        verbose_name_plural = _("card service requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["card"],
                condition=models.Q(status="pending"),
                name="card_service_one_pending_per_card",
            ),
            # Maker-checker, kept by the database too: the requester never approves.
            models.CheckConstraint(
                condition=~models.Q(status="approved")
                | ~models.Q(decided_by=models.F("requested_by")),
                name="card_service_second_operator",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="card_service_status")]
        permissions = [
            ("service_card", _("Can freeze, unfreeze, void, reissue and exchange cards")),
            ("decide_card_service", _("Can approve or reject another operator's card service")),
            ("refund_unused_cards", _("Can refund an order's unused cards to the buyer")),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.card.serial_display}"


class MerchantSettlement(models.Model):
    """What one merchant is owed for one day (Asia/Shanghai): redemptions less refunds and
    voided redemptions. Recomputed while open; paid once."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("settlement", "Open")
        PAID = "paid", pgettext_lazy("settlement", "Paid")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="settlements", verbose_name=_("merchant")
    )
    day = models.DateField(_("day"))
    redeemed = models.DecimalField(_("redeemed"), max_digits=14, decimal_places=2)
    refunded = models.DecimalField(_("refunded"), max_digits=14, decimal_places=2)
    voided = models.DecimalField(_("redemptions voided"), max_digits=14, decimal_places=2)
    net = models.DecimalField(_("net owed"), max_digits=14, decimal_places=2)
    transaction_count = models.PositiveIntegerField(_("transactions"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("merchant settlement")
        verbose_name_plural = _("merchant settlements")
        ordering = ["-day", "merchant_id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "day"], name="settlement_merchant_day"),
            models.CheckConstraint(
                condition=models.Q(
                    net=models.F("redeemed") - models.F("refunded") - models.F("voided")
                ),
                name="settlement_net_sum",
            ),
        ]
        indexes = [models.Index(fields=["status", "day"], name="settlement_status_day")]
        permissions = [
            ("record_settlement_payout", _("Can record the payout of a merchant settlement")),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {self.day:%Y-%m-%d}"
