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
    PAYMENT_RECORDED = "billing.payment_recorded", _("Recorded a payment")
    PAYMENT_ALLOCATED = "billing.payment_allocated", _("Allocated a payment")
    ALLOCATION_REVERSED = "billing.allocation_reversed", _("Reversed a payment allocation")
    CREDIT_APPLIED = "billing.credit_applied", _("Applied company credit to an invoice")
    BANK_STATEMENT_IMPORTED = "billing.bank_statement_imported", _("Imported a bank statement")
    CREDIT_HOLD_PLACED = "billing.credit_hold_placed", _("Held new credit orders (past due)")
    CREDIT_HOLD_LIFTED = "billing.credit_hold_lifted", _("Lifted the hold on credit orders")


register_audit_actions(BillingAction)
