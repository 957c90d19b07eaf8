"""Expiry of bearer cards: breakage decisions and the reminders sent before expiry
(``cards.services.expiry``).

An expired bearer card keeps its balance: the regime says its holder may have it reactivated or
exchanged, so the money is still owed (the expired-balance liability), never income by itself.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models.delivery import RecipientDelivery
from cards.models.issuance import Card
from portal.models import Company


class ExpiredCard(Card):
    """Expired cards, for the operators who reactivate them (a view of ``Card``)."""

    class Meta:
        proxy = True
        verbose_name = _("expired card")
        verbose_name_plural = _("expired cards")


class BreakageStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed, waiting for review")
    POSTED = "posted", _("Posted")
    REJECTED = "rejected", pgettext_lazy("breakage decision status", "Rejected")
    REVERSED = "reversed", _("Reversed")


class BreakageDecision(models.Model):
    """An operator's decision to recognise as income (breakage) the balances of cards expired
    longer ago than the holding period (``settings.BREAKAGE_HOLDING_MONTHS``), never automatic.

    One operator proposes it (the cards covered and their total are recorded then); a second
    operator reviews it: posting it writes one journal entry, expired-balance liability +X /
    breakage income -X; rejecting it writes nothing. A posted decision is undone only by a
    reversing entry (breakage income +Y / expired-balance liability -Y), never by editing.

    The cards keep their balances and stay expired: the holder can still come back. When a card
    covered by posted breakage is reactivated (or exchanged), the breakage for that card's amount
    is reversed first, in the same transaction (breakage income +b / expired-balance liability
    -b, recorded on its ``BreakageCard`` row), and then its balance moves back to the card
    liability as for any expired card. The decision stays ``posted`` for its other cards.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=BreakageStatus.choices, default=BreakageStatus.PROPOSED
    )
    expired_before = models.DateTimeField(
        _("cards expired before"),
        help_text=_("The decision covers cards that expired before this time."),
    )
    card_count = models.PositiveIntegerField(_("cards"))
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=500)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    proposed_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("breakage", "reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=500, blank=True)
    entry = models.ForeignKey(
        "billing.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("journal entry"),
    )
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reversed by"),
    )
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversal_reason = models.CharField(_("reason for the reversal"), max_length=500, blank=True)
    reversal_entry = models.ForeignKey(
        "billing.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reversing entry"),
    )

    class Meta:
        verbose_name = _("breakage decision")
        verbose_name_plural = _("breakage decisions")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            # The second-operator rule, kept by the database too.
            models.CheckConstraint(
                condition=models.Q(reviewed_by__isnull=True)
                | ~models.Q(reviewed_by=models.F("proposed_by")),
                name="breakage_reviewed_by_another_operator",
            ),
            models.CheckConstraint(condition=models.Q(total__gte=0), name="breakage_total_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.proposed_at:%Y-%m-%d} {self.total} ({self.get_status_display()})"


class BreakageCard(models.Model):
    """One card covered by a breakage decision, with the balance it had when proposed. ``live``
    while the decision is proposed or posted and the card's breakage is not reversed: a card is
    in at most one live decision (unique index)."""

    decision = models.ForeignKey(
        BreakageDecision,
        on_delete=models.PROTECT,
        related_name="covered",
        verbose_name=_("breakage decision"),
    )
    card = models.ForeignKey(
        Card, on_delete=models.PROTECT, related_name="+", verbose_name=_("card")
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    live = models.BooleanField(default=True, db_default=True)
    # Set when the card came back (reactivated or exchanged) after the decision was posted.
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversal_entry = models.ForeignKey(
        "billing.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reversing entry"),
    )

    class Meta:
        verbose_name = _("card covered by breakage")
        verbose_name_plural = _("cards covered by breakage")
        ordering = ["decision_id", "card_id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "card"], name="breakage_card_once"),
            models.UniqueConstraint(
                fields=["card"], condition=models.Q(live=True), name="breakage_card_one_live"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="breakage_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.decision_id}: {self.card_id} {self.amount}"


class ExpiryAudience(models.TextChoices):
    COMPANY = "company", _("The buyer's finance contacts")
    RECIPIENT = "recipient", _("The card's recipient")


class ExpiryNotice(models.Model):
    """One reminder before expiry: to a company's finance contacts (the count and total of its
    cards reaching the threshold that day) or to one link-delivered recipient (their card).
    ``emailed_at`` is set once the message left."""

    audience = models.CharField(_("sent to"), max_length=16, choices=ExpiryAudience.choices)
    days_before = models.PositiveSmallIntegerField(_("days before expiry"))
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    delivery = models.ForeignKey(
        RecipientDelivery,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recipient delivery"),
    )
    card_count = models.PositiveIntegerField(_("cards"), default=0)
    total = models.DecimalField(_("balance"), max_digits=14, decimal_places=2, default=0)
    first_expiry = models.DateTimeField(_("first expiry"), null=True, blank=True)
    last_expiry = models.DateTimeField(_("last expiry"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.company} {self.audience} {self.days_before}"


class ExpiryNoticeCard(models.Model):
    """A card told about at one threshold for one expiry date: the unique index makes each
    reminder go out once per card, audience and threshold (a reactivated card has a new expiry
    date, so it is reminded again before that one)."""

    notice = models.ForeignKey(ExpiryNotice, on_delete=models.PROTECT, related_name="cards")
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="+")
    audience = models.CharField(max_length=16, choices=ExpiryAudience.choices)
    days_before = models.PositiveSmallIntegerField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["card", "audience", "days_before", "expires_at"],
                name="expiry_notice_card_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.card_id} {self.audience} {self.days_before}"
