"""Real-name purchase registrations (DESIGN.md section 7)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company


class PurchaseRegistration(models.Model):
    """Real-name purchase registration: who bought, for which company. Never edited; kept at
    least five years from its last purchase and while a legal hold covers it, deleted only by the
    purge after that (the database refuses an edit, and an earlier delete:
    cards/register_retention_sql.py). The ID number is encrypted; only the masked form is shown
    but on one audited page (cards.services.register)."""

    class IdType(models.TextChoices):
        RESIDENT_ID = "resident_id", _("Resident identity card")
        PASSPORT = "passport", _("Passport")
        OTHER = "other", _("Other official ID")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    company_name = models.CharField(_("company"), max_length=200)
    credit_code = models.CharField(_("unified social credit code"), max_length=18)
    agent_name = models.CharField(_("agent name"), max_length=100)
    id_type = models.CharField(_("ID type"), max_length=16, choices=IdType.choices)
    id_number_key_id = models.CharField(max_length=16)
    id_number_ciphertext = models.BinaryField()
    id_number_masked = models.CharField(_("ID number"), max_length=32)
    contact_phone = models.CharField(_("contact phone"), max_length=32)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("purchase registration")
        verbose_name_plural = _("purchase registrations")
        ordering = ["-created_at"]
        permissions = [("view_full_id_number", _("Can view a full ID number (audited)"))]

    def __str__(self) -> str:
        return f"{self.company_name} · {self.agent_name} · {self.id_number_masked}"


# The prepaid card regime keeps a purchase registration at least five years from the purchase.
REGISTRATION_RETENTION_YEARS = 5


class LegalHold(models.Model):
    """Keeps purchase registrations past their retention: on one registration, or on every
    registration of a company. While a hold is in force (not released) nothing it covers can be
    deleted, neither by the purge nor in the database (a trigger refuses). Placing and releasing
    are audited; a released hold stays as the record of what was held, by whom and why."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("company"),
    )
    # A purged registration leaves its released holds behind (``subject`` keeps what they held).
    registration = models.ForeignKey(
        PurchaseRegistration,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="legal_holds",
        verbose_name=_("purchase registration"),
    )
    subject = models.CharField(_("held"), max_length=300)
    reason = models.CharField(_("reason"), max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("placed by"),
    )
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.CharField(_("reason for the release"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(company__isnull=False, registration__isnull=False),
                name="legalhold_company_or_registration",
            ),
            models.CheckConstraint(
                condition=models.Q(company__isnull=False)
                | models.Q(registration__isnull=False)
                | models.Q(released_at__isnull=False),
                name="legalhold_in_force_has_subject",
            ),
        ]
        indexes = [
            models.Index(
                fields=["company"],
                condition=models.Q(released_at__isnull=True),
                name="hold_company",
            ),
            models.Index(
                fields=["registration"],
                condition=models.Q(released_at__isnull=True),
                name="hold_registration",
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def in_force(self) -> bool:
        return self.released_at is None
