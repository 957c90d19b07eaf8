"""Payments received by bank transfer: recording, automatic matching, allocation, company credit.

Recording. ``payment_record`` creates a payment once per bank line: its ``dedupe_key`` (unique in
the database) is the SHA-256 of the normalised bank reference, or of the date, amount, payer
account and remittance text when the bank gave no reference. A repeat creates nothing.

Matching. ``payment_auto_match`` first looks for invoice numbers (``INV-2026-000123``) and
pro-forma payment references (``EC…``) or numbers (``PF-…``) in the remittance text, after
normalising full-width characters, spaces and case; the payment is spread over the invoices found
in the order they appear, and what is left over is kept as the company's credit. Failing that it
looks for the payer's company (the payer account or name seen on that company's earlier payments,
or its legal name) and exactly one open invoice or pro-forma whose balance equals the payment.
Otherwise the payment waits in the unmatched queue for an operator (``allocation_create``).

Ledger (one journal entry per allocation, keyed by the allocation, so it posts once):

- payment to an invoice: Dr cash / Cr the company's receivable;
- payment kept as credit: Dr cash / Cr the company's credit account;
- company credit used on an invoice: Dr company credit / Cr receivable;
- a reversal (a new allocation with a negative amount) posts the exact opposite entry.

Pro-forma invoices (bank-transfer orders). A pro-forma is not a receivable, so money allocated to
one is *held as the company's credit* (Dr cash / Cr company credit) and counted in the pro-forma's
``paid_amount``. A partial payment therefore simply waits there; the held amount is not
available for other invoices (``company_credit_available`` subtracts it). When the allocations
cover the pro-forma's total, ``proforma_mark_paid(receipt_from_credit=True)`` issues the invoice,
posts the sale and moves the held credit to the receivable (no second cash entry), and funds the
order. Its row lock and status check make that happen once, however many payments, imports or
operators race. If the pro-forma is withdrawn, what was held becomes ordinary company credit.
Allocations to a paid pro-forma cannot be reversed (the order is funded; void its invoice, which
turns the payment into company credit).

Locks, through ``billing.locks`` and in its global order: the payment row, the company's credit
account (FOR NO KEY UPDATE, so postings to it from elsewhere are not blocked), then every invoice
the transaction will touch by id, in one statement (with the company's open invoices when its
credit may be used on them); covered pro-formas are marked paid last, because that takes an
invoice number. Funding their orders is queued to run after commit. Amounts are re-checked after
the locks: a payment is never allocated beyond its amount, an invoice never beyond its total.

The package by feature: ``normalise`` (comparing references, the dedupe key), ``recording``
(``payment_record``), ``matching`` (``payment_auto_match``), ``allocations`` (operators'
allocation and reversal), ``company_credit`` (company credit), and ``_common`` (what they
share: payable balances, locks, one allocation and its journal entry).
"""

from billing.services.invoices import InvoiceStateError
from billing.services.payments._common import PAYABLE_STATUSES, payable_balance
from billing.services.payments.allocations import allocation_create, allocation_reverse
from billing.services.payments.company_credit import company_credit_apply, company_credit_available
from billing.services.payments.matching import payment_auto_match
from billing.services.payments.normalise import (
    normalise_account,
    normalise_text,
    payment_dedupe_key,
)
from billing.services.payments.recording import payment_record

__all__ = [
    "PAYABLE_STATUSES",
    "InvoiceStateError",
    "allocation_create",
    "allocation_reverse",
    "company_credit_apply",
    "company_credit_available",
    "normalise_account",
    "normalise_text",
    "payable_balance",
    "payment_auto_match",
    "payment_dedupe_key",
    "payment_record",
]
