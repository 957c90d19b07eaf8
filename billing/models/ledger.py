"""The double-entry ledger: accounts, journal entries and their postings."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company


class Account(models.Model):
    """A ledger account. Platform accounts have no company; receivables are per company."""

    class Kind(models.TextChoices):
        RECEIVABLE = "receivable", _("Accounts receivable")
        # Sold, not yet issued: credited when the invoice is issued, moved to card liability
        # when the cards exist (one entry per batch). Card liability = live card balances.
        CARDS_TO_ISSUE = "cards_to_issue", _("Card liability, not yet issued")
        CARD_LIABILITY = "card_liability", _("Card liability")
        # Balances of expired bearer cards: still owed (the holder may reactivate or exchange).
        EXPIRED_LIABILITY = "expired_liability", _("Expired card balance liability")
        # Balances of voided cards, until refunded to the buyer.
        VOIDED_CARDS = "voided_cards", _("Voided card balances")
        # Owed to a merchant for what it redeemed, until the settlement is paid (one per merchant).
        MERCHANT_PAYABLE = "merchant_payable", _("Merchant settlement payable")
        CASH = "cash", _("Cash at bank")
        DISCOUNTS = "discounts", _("Sales discounts")
        FEE_INCOME = "fee_income", _("Service fee income")
        BREAKAGE_INCOME = "breakage_income", _("Breakage income")
        COMPANY_CREDIT = "company_credit", _("Customer credit balance")

    code = models.CharField(_("code"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("company"),
    )

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["code"]

    def __str__(self) -> str:
        label = self.get_kind_display()
        return f"{label} · {self.company}" if self.company_id else str(label)


class JournalEntry(models.Model):
    """One business event in the ledger. Its postings sum to zero: a deferred constraint trigger
    in PostgreSQL refuses to commit an entry that does not balance. Append-only."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=32)
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("company"),
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    # One posting per business event: the unique index (a constraint, Meta: a unique field would
    # get a second, pattern index too) makes a repeated post fail.
    idempotency_key = models.CharField(max_length=128, verbose_name=_("idempotency key"))

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="journalentry_idempotency_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class Posting(models.Model):
    """One side of a journal entry: positive is a debit, negative a credit. Append-only."""

    entry = models.ForeignKey(
        JournalEntry,
        on_delete=models.PROTECT,
        related_name="postings",
        verbose_name=_("journal entry"),
    )
    # No index of its own: (account, entry) below leads with it.
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="postings",
        verbose_name=_("ledger account"),
        db_index=False,
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        indexes = [models.Index(fields=["account", "entry"], name="posting_account_entry")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="posting_amount_nonzero")
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount}"
