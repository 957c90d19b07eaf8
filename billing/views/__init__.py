"""Portal pages of billing, by feature: invoices and credit (``invoices``), aging and payment
history (``receivables``), statements (``statements``). ``billing/urls.py`` routes to the names
re-exported here."""

from billing.views.invoices import credit, invoice_detail, invoice_list, invoice_pdf
from billing.views.receivables import aging, payment_history
from billing.views.statements import (
    statement_download,
    statement_list,
    statement_request_view,
    statement_retry_view,
)

__all__ = [
    "aging",
    "credit",
    "invoice_detail",
    "invoice_list",
    "invoice_pdf",
    "payment_history",
    "statement_download",
    "statement_list",
    "statement_request_view",
    "statement_retry_view",
]
