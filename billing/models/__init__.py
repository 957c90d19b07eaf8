"""Billing core: the double-entry ledger, pricing, credit lines and invoices.

This core never imports ``cards``: orders reach it as plain numbers and amounts.

The models by feature: the ledger (``ledger``), pricing and credit (``credit``), invoices
(``invoices``), payments and their allocations (``payments``), reminders, credit holds and the
ledger check (``receivables``), statements of account (``statements``).
"""

# isort: off
# Imported in the order the models were defined in the single module they came from, so that the
# app registry (and the content types and permissions created from it) keeps that order.
from billing.models.ledger import Account, JournalEntry, Posting
from billing.models.credit import CompanyPricing, CreditLine, CreditReservation
from billing.models.invoices import Invoice, InvoiceLine, InvoiceSequence
from billing.models.payments import Allocation, BankStatementImport, Payment
from billing.models.receivables import CreditHold, InvoiceReminder, LedgerCheck
from billing.models.statements import Statement, StatementFile
from billing.models.credit_proposals import CreditLineProposal

# isort: on
# imported from outside: hidden coupling, to clean up (migration 0004 names the upload path
# ``billing.models._statement_path``).
from billing.models.statements import _statement_path as _statement_path

__all__ = [
    "Account",
    "Allocation",
    "BankStatementImport",
    "CompanyPricing",
    "CreditHold",
    "CreditLine",
    "CreditLineProposal",
    "CreditReservation",
    "Invoice",
    "InvoiceLine",
    "InvoiceReminder",
    "InvoiceSequence",
    "JournalEntry",
    "LedgerCheck",
    "Payment",
    "Posting",
    "Statement",
    "StatementFile",
]
