"""Real-name purchase registrations (DESIGN.md section 7)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company


class PurchaseRegistration(models.Model):
    """Real-name purchase registration: who bought, for which company. Kept at least five years,
    never edited or deleted (the database refuses both). The ID number is encrypted; only the
    masked form is ever shown."""

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

    def __str__(self) -> str:
        return f"{self.company_name} · {self.agent_name} · {self.id_number_masked}"
