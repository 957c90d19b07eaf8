"""Batches, chunks, cards and card transactions: what issuance writes.

A card row holds no secret in clear: the code is stored as an HMAC-SHA256 digest (unique, for
redemption look-up) and an AES-GCM ciphertext bound to the serial (for the one-time reveal).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cards.models.ordering import CardProduct, Order, OrderLine
from portal.models import Company


class SerialCounter(models.Model):
    """The last serial number allocated. Batches take whole blocks with one upsert that holds
    the row until commit: serials never repeat, and inside a batch they have no gaps."""

    name = models.CharField(max_length=16, unique=True)
    last = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last}"


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    GENERATING = "generating", _("Generating")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class Batch(models.Model):
    """The cards of one order line."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="batches", verbose_name=_("order")
    )
    line = models.OneToOneField(OrderLine, on_delete=models.PROTECT, related_name="batch")
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    product = models.ForeignKey(
        CardProduct, on_delete=models.PROTECT, related_name="+", verbose_name=_("card product")
    )
    face_value = models.DecimalField(_("face value"), max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField(_("cards ordered"))
    first_serial = models.BigIntegerField()
    chunk_size = models.PositiveIntegerField()
    chunk_count = models.PositiveIntegerField()
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    generated = models.PositiveIntegerField(_("cards generated"), default=0)
    # Canary cards made for this batch when it was finalised (``cards.services.canaries``); they
    # are not among ``quantity`` or ``generated``. Set once, by a conditional update from 0.
    canaries = models.PositiveSmallIntegerField(_("canary cards"), default=0, db_default=0)
    # A batch of a sandbox order (docs/api.md, "Test mode"): test codes, cards marked
    # ``is_test``, no ledger entry. Copied from the company when the batch is made.
    is_test = models.BooleanField(_("test batch"), default=False, db_default=False)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(generated__lte=models.F("quantity")),
                name="batch_generated_within_quantity",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order.number} #{self.line.position}"

    @property
    def face_total(self) -> Decimal:
        return self.face_value * self.quantity


class ChunkStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Chunk(models.Model):
    """A slice of a batch that one task generates and commits in one transaction."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    offset = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=ChunkStatus.choices, default=ChunkStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["batch_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="chunk_batch_index"),
        ]
        indexes = [models.Index(fields=["status", "enqueued_at"], name="chunk_status_enqueued")]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.index}"


class CardStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("card status", "Active")
    FROZEN = "frozen", _("Frozen")
    EXPIRED = "expired", _("Expired")
    VOIDED = "voided", _("Voided")
    DEPLETED = "depleted", _("Used up")


class CardQuerySet(models.QuerySet["Card"]):
    def live(self) -> CardQuerySet:
        """Real cards: every money figure and report over cards starts here."""
        return self.filter(is_test=False)


class Card(models.Model):
    """One prepaid card. Rows are written in bulk by ``COPY``; the column list in
    ``cards.card_copy.CARD_COPY_COLUMNS`` must follow these fields."""

    id = models.BigAutoField(primary_key=True)
    serial = models.BigIntegerField(_("serial"), unique=True)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="cards")
    digest = models.BinaryField(unique=True)
    key_id = models.CharField(max_length=16)
    ciphertext = models.BinaryField()
    last4 = models.CharField(_("last 4"), max_length=4)
    face_value = models.DecimalField(_("face value"), max_digits=14, decimal_places=2)
    balance = models.DecimalField(_("balance"), max_digits=14, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=16, choices=CardStatus.choices, default=CardStatus.ACTIVE
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)
    # Reserved by open merchant holds; what can be spent is ``balance - held``. Database defaults
    # (not only Django's), so the bulk COPY of issuance needs no column for them.
    held = models.DecimalField(
        _("held"), max_digits=14, decimal_places=2, default=Decimal("0"), db_default=Decimal("0")
    )
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    # A card reported lost and reissued points at its replacement (``reissued_as``).
    reissued_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reissued_as",
        verbose_name=_("reissued from"),
    )
    # Never delivered: a look-up of a canary code freezes the merchant key that made it.
    is_canary = models.BooleanField(_("canary card"), default=False, db_default=False)
    # A sandbox's card (docs/api.md, "Test mode"): its code starts with TEST, merchants are
    # refused it, nothing is owed on it and no report counts it (``live()``).
    is_test = models.BooleanField(_("test card"), default=False, db_default=False)

    objects = CardQuerySet.as_manager()

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = pgettext_lazy("card model", "cards")
        ordering = ["serial"]
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="card_balance_gte_0"),
            models.CheckConstraint(
                condition=models.Q(balance__lte=models.F("face_value")),
                name="card_balance_within_face_value",
            ),
            models.CheckConstraint(
                condition=models.Q(held__gte=0, held__lte=models.F("balance")),
                name="card_held_within_balance",
            ),
        ]
        indexes = [
            # The daily expiry finds the cards due without reading the whole table.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status__in=["active", "depleted"], expires_at__isnull=False),
                name="card_expiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial_display} ···{self.last4}"

    @property
    def serial_display(self) -> str:
        return f"{self.serial:016d}"


class CardTransaction(models.Model):
    """A movement of one card's balance. Append-only: the database refuses UPDATE and DELETE."""

    class Kind(models.TextChoices):
        REDEEM = "redeem", _("Redemption")
        REFUND = "refund", _("Refund")
        EXPIRE = "expire", _("Expiry")
        VOID = "void", _("Void")
        FREEZE = "freeze", _("Freeze")
        UNFREEZE = "unfreeze", _("Unfreeze")
        ADJUST = "adjust", _("Adjustment")
        REDEEM_VOID = "redeem_void", _("Redemption voided")
        REACTIVATE = "reactivate", _("Reactivation")
        REISSUE_OUT = "reissue_out", _("Moved to a new card")
        REISSUE_IN = "reissue_in", _("Moved from a lost card")

    # The id the merchant API shows (a redemption's id); empty on rows written before it existed.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, null=True, editable=False)
    # No index of their own: (card, created_at) and (merchant, created_at) below lead with them
    # (every index is written on every redemption).
    card = models.ForeignKey(
        Card, on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    merchant = models.ForeignKey(
        "cards.Merchant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("merchant"),
        db_index=False,
    )
    # A refund, a voided redemption or a capture points at what it concerns.
    original = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="follow_ups",
        verbose_name=_("original transaction"),
    )
    hold = models.ForeignKey(
        "cards.CardHold",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("hold"),
    )
    # SHA-256 of the request that created it: the same idempotency key with another body is refused.
    request_digest = models.CharField(max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("operator"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=14, decimal_places=2)
    merchant_reference = models.CharField(_("merchant reference"), max_length=64, blank=True)
    # Unique through a constraint (Meta): a unique field would get a second, pattern index too.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("card transaction")
        verbose_name_plural = _("card transactions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["card", "-created_at"], name="cardtx_card_created"),
            models.Index(fields=["merchant", "created_at"], name="cardtx_merchant_created"),
            # Expense matching finds a claim's redemption by the merchant's order reference.
            models.Index(
                fields=["merchant_reference"],
                condition=~models.Q(merchant_reference=""),
                name="cardtx_merchant_reference",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="cardtx_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"
