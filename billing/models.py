"""The ledger, credit lines, invoices and payments arrive with the ordering and payments issues."""
