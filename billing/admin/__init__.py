"""Operators' admin for billing, one module per feature; importing this package registers them all.

- base: read-only admins and inlines (evidence), service errors on a form
- pricing, credit: company pricing and credit lines, saved through their services (validated,
  audited with the operator's IP); credit held for orders
- credit_proposals: credit lines above the dual-control amount, waiting for a second operator
- ledger: invoices and the journal, read-only (evidence)
- import_: django-import-export (safe CSV/XLSX formats, widgets) and the import and export of
  company pricing (it replaces the pricing admin's registration)
- payments, allocations, bank_statements: recording and allocating payments, reversals, bank
  statement files
- receivables: aging, reminders, credit holds, ledger checks
- statements: statements of account
"""

from __future__ import annotations

from billing.admin import (  # noqa: F401 - they register their admin pages
    allocations,
    bank_statements,
    credit_proposals,
    payments,
    receivables,
    statements,
)
from billing.admin.base import ReadOnlyAdmin, ReadOnlyInline
from billing.admin.credit import CreditLineAdmin, CreditLineForm, CreditReservationAdmin
from billing.admin.import_ import (
    SAFE_FORMATS,
    CompanyByCreditCodeWidget,
    CompanyPricingImportExportAdmin,
    CompanyPricingResource,
    PlainDecimalWidget,
    SafeCSV,
    SafeFormatsMixin,
    SafeXLSX,
    decode_text,
    invalid_row,
)
from billing.admin.ledger import (
    AccountAdmin,
    InvoiceAdmin,
    InvoiceLineInline,
    JournalEntryAdmin,
    PostingAdmin,
    PostingInline,
)
from billing.admin.pricing import CompanyPricingAdmin, CompanyPricingForm

__all__ = [
    "SAFE_FORMATS",
    "AccountAdmin",
    "CompanyByCreditCodeWidget",
    "CompanyPricingAdmin",
    "CompanyPricingForm",
    "CompanyPricingImportExportAdmin",
    "CompanyPricingResource",
    "CreditLineAdmin",
    "CreditLineForm",
    "CreditReservationAdmin",
    "InvoiceAdmin",
    "InvoiceLineInline",
    "JournalEntryAdmin",
    "PlainDecimalWidget",
    "PostingAdmin",
    "PostingInline",
    "ReadOnlyAdmin",
    "ReadOnlyInline",
    "SafeCSV",
    "SafeFormatsMixin",
    "SafeXLSX",
    "decode_text",
    "invalid_row",
]
