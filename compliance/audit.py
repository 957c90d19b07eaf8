"""The compliance app's audit actions."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from portal.models import register_audit_actions


class ComplianceAction(models.TextChoices):
    REPORT_FILED = "compliance.report_filed", gettext_lazy("Filed a compliance report")
    REPORT_DOWNLOADED = (
        "compliance.report_downloaded",
        gettext_lazy("Downloaded a filed compliance report"),
    )
    DEPOSIT_RECORDED = "compliance.deposit_recorded", gettext_lazy("Recorded the escrow deposit")


register_audit_actions(ComplianceAction)
