"""Admin pages for this part of billing (imported by billing/admin.py)."""
