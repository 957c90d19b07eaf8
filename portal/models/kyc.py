"""Company KYC: the documents a company sends, the operators' review decisions (an approval
waits for a second operator), and the history of the company's status."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from portal.models import Company
from portal.storage import PrivateDocumentStorage


def _document_path(instance: CompanyDocument, filename: str) -> str:
    # A fresh folder per upload: a replacement never lands on an earlier file.
    return f"companies/{instance.company.public_id}/{instance.public_id}/{filename}"


class CompanyDocument(models.Model):
    """One uploaded document. Never changed or deleted: a replacement is a new row, and the
    company's current document of a kind is its latest one."""

    class Kind(models.TextChoices):
        BUSINESS_LICENCE = "business_licence", _("Business licence")
        AUTHORISATION = "authorisation_letter", _("Agent's letter of authorisation")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="documents", verbose_name=_("company")
    )
    kind = models.CharField(_("document"), max_length=32, choices=Kind.choices)
    file = models.FileField(
        upload_to=_document_path, storage=PrivateDocumentStorage(), max_length=255
    )
    original_name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField("SHA-256", max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("company document")
        verbose_name_plural = _("company documents")
        ordering = ["-uploaded_at", "-id"]
        indexes = [
            models.Index(fields=["company", "kind", "-uploaded_at"], name="company_document_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.original_name}"


class CompanyReview(models.Model):
    """An operator's KYC decision on a company, with its reason. An approval activates the
    company only once a second, different operator confirms it (or it is declined); the other
    decisions take effect at once."""

    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approve (activate)")
        REJECT = "reject", pgettext_lazy("KYC decision", "Reject")
        MORE_INFORMATION = "more_information", _("Ask for more information")
        SUSPEND = "suspend", _("Suspend")

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting for a second operator")
        CONFIRMED = "confirmed", pgettext_lazy("KYC approval", "Confirmed")
        DECLINED = "declined", pgettext_lazy("KYC approval", "Declined")
        RECORDED = "recorded", pgettext_lazy("KYC decision", "Recorded")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="reviews", verbose_name=_("company")
    )
    decision = models.CharField(_("decision"), max_length=20, choices=Decision.choices)
    reason = models.CharField(_("reason"), max_length=500)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("second operator"),
    )
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    check_note = models.CharField(_("why declined"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("KYC decision")
        verbose_name_plural = _("KYC decisions")
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=models.Q(status="waiting"),
                name="company_review_one_waiting",
            ),
            # Maker-checker, kept by the database too: the operator who approved never confirms.
            models.CheckConstraint(
                condition=~models.Q(status="confirmed")
                | ~models.Q(checked_by=models.F("decided_by")),
                name="company_review_second_operator",
            ),
        ]
        permissions = [("decide_kyc", _("Can record KYC decisions and confirm approvals"))]

    def __str__(self) -> str:
        return f"{self.company}: {self.get_decision_display()} ({self.get_status_display()})"


class CompanyStatusChange(models.Model):
    """One move of a company's status (written by ``company_set_status`` only). Append-only."""

    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        related_name="status_changes",
        verbose_name=_("company"),
    )
    from_status = models.CharField(
        _("from"), max_length=16, choices=Company.Status.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=16, choices=Company.Status.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    # For an activation: the operator whose approval ``changed_by`` (the second one) confirmed.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status history")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.company}: {self.from_status or '-'} → {self.to_status}"
