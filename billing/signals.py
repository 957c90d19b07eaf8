"""Events the billing core announces to the apps built on it (it never imports them)."""

from django.dispatch import Signal

# Sent inside the transaction that records the payment of a pro-forma invoice, once per invoice.
# Arguments: proforma (Invoice), invoice (the final Invoice), actor (User or None).
proforma_paid = Signal()
