"""A credit line set or raised above ``KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE``, waiting for a
second operator (maker-checker, as card service requests)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models.credit import CreditLine
from portal.models import Company


class CreditLineProposal(models.Model):
    """The terms an operator asked for; they take effect when another operator approves."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a second operator")
        APPROVED = "approved", pgettext_lazy("credit line proposal", "Approved")
        REJECTED = "rejected", pgettext_lazy("credit line proposal", "Rejected")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    # The limit before (None: the company had no credit line).
    previous_limit = models.DecimalField(
        _("limit before"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    limit = models.DecimalField(_("proposed limit"), max_digits=14, decimal_places=2)
    net_days = models.PositiveSmallIntegerField(_("net days"))
    grace_days = models.PositiveSmallIntegerField(_("grace days"))
    line_status = models.CharField(
        _("line status"), max_length=16, choices=CreditLine.Status.choices
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
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

    class Meta:
        verbose_name = _("credit line proposal")
        verbose_name_plural = _("credit line proposals")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=models.Q(status="pending"),
                name="credit_proposal_one_pending",
            ),
            # Maker-checker, kept by the database too: the requester never approves.
            models.CheckConstraint(
                condition=~models.Q(status="approved")
                | ~models.Q(decided_by=models.F("requested_by")),
                name="credit_proposal_second_operator",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="credit_proposal_status")]
        permissions = [
            (
                "decide_credit_line_proposal",
                _("Can approve or reject another operator's credit line"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.limit}"
