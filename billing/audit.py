"""Audit action codes written by the billing app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.models import register_audit_actions


class BillingAction(models.TextChoices):
    CREDIT_LINE_SET = "billing.credit_line_set", _("Changed a credit line")
    PRICING_SET = "billing.pricing_set", _("Changed company pricing")
    INVOICE_ISSUED = "billing.invoice_issued", _("Issued an invoice")
    PROFORMA_ISSUED = "billing.proforma_issued", _("Issued a pro-forma invoice")
    PROFORMA_PAID = "billing.proforma_paid", _("Recorded payment of a pro-forma invoice")
    INVOICE_VOIDED = "billing.invoice_voided", _("Voided an invoice with a credit note")
    PROFORMA_VOIDED = "billing.proforma_voided", _("Withdrew a pro-forma invoice")


register_audit_actions(BillingAction)
