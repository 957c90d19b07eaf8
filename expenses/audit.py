"""The audit actions of expense reconciliation."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from portal.models import register_audit_actions


class ExpenseAction(models.TextChoices):
    REPORT_RECEIVED = "expense_report.received", gettext_lazy("Uploaded an expense report")
    REPORT_DISCARDED = "expense_report.discarded", gettext_lazy("Discarded an expense report")
    REPORT_MATCHED = "expense_report.matched", gettext_lazy("Matched an expense report")
    LINE_ACCEPTED = "expense_line.accepted", gettext_lazy("Accepted an expense claim")
    LINE_REJECTED = "expense_line.rejected", gettext_lazy("Rejected an expense claim")
    LINE_LINKED = "expense_line.linked", gettext_lazy("Linked an expense claim to card spend")
    LINE_UNLINKED = "expense_line.unlinked", gettext_lazy("Unlinked an expense claim")
    LINE_REOPENED = "expense_line.reopened", gettext_lazy("Reopened an expense claim")
    PERIOD_CLOSED = "expense_period.closed", gettext_lazy("Closed a reconciliation period")
    PERIOD_REOPENED = "expense_period.reopened", gettext_lazy("Re-opened a reconciliation period")
    MAPPING_CHANGED = "expense_mapping.changed", gettext_lazy("Changed the voucher account mapping")
    VOUCHERS_EXPORTED = "expense_vouchers.exported", gettext_lazy("Exported vouchers")


register_audit_actions(ExpenseAction)
