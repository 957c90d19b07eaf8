"""Buyer API of billing, by feature: invoices (``invoices``), payments (``payments``), aging
(``receivables``) and statements (``statements``). ``portal/api/urls.py`` registers the viewsets
and routes re-exported here."""

from billing.api.invoices import InvoiceViewSet
from billing.api.payments import PaymentViewSet, register_payment_routes
from billing.api.receivables import AgingViewSet, register_receivable_routes
from billing.api.statements import StatementViewSet, register_statement_routes

__all__ = [
    "AgingViewSet",
    "InvoiceViewSet",
    "PaymentViewSet",
    "StatementViewSet",
    "register_payment_routes",
    "register_receivable_routes",
    "register_statement_routes",
]
