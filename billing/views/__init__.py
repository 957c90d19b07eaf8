"""Portal pages of billing, by feature: invoices and credit (``invoices``), aging and payment
history (``receivables``), statements (``statements``). ``billing/urls.py`` routes to the names
re-exported here."""

from billing.views.invoices import credit, invoice_detail, invoice_list, invoice_pdf
from billing.views.receivables import (
    EXPORT_TYPES,
    aging,
    aging_export_response,
    parse_as_of,
    payment_history,
)
from billing.views.statements import (
    file_response,
    statement_download,
    statement_list,
    statement_request_view,
)

__all__ = [
    "EXPORT_TYPES",
    "aging",
    "aging_export_response",
    "credit",
    "file_response",
    "invoice_detail",
    "invoice_list",
    "invoice_pdf",
    "parse_as_of",
    "payment_history",
    "statement_download",
    "statement_list",
    "statement_request_view",
]
