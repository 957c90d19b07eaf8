"""The issuer's compliance reports (issue 17): computed from the ledger and card transactions."""
