"""What the KYC services share: their audit actions and the operator and reason rules."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.errors import DomainError
from portal.models import User, register_audit_actions


class KycAction(models.TextChoices):
    DOCUMENT_UPLOADED = "kyc.document_uploaded", gettext_lazy("Uploaded a KYC document")
    DOCUMENT_OPENED = "kyc.document_opened", gettext_lazy("Opened a company's KYC document")
    DECISION_RECORDED = "kyc.decision_recorded", gettext_lazy("Recorded a KYC decision")
    APPROVAL_CONFIRMED = (
        "kyc.approval_confirmed",
        gettext_lazy("Confirmed another operator's KYC approval"),
    )
    APPROVAL_DECLINED = "kyc.approval_declined", gettext_lazy("Declined a KYC approval")


register_audit_actions(KycAction)


def require_operator(actor: User) -> None:
    """KYC decisions and reading documents are the issuer's staff's work, never a buyer's."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only the issuer's operators review companies."))


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            {"reason": _("Give a reason; it is kept with the company's KYC history.")},
            code="reason_required",
        )
    return reason[:500]
