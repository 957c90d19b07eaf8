"""Expense reconciliation (issue 16): a buyer's expense reports matched against the spend of the
company's own cards, the exceptions finance resolves, period close, and vouchers out."""
