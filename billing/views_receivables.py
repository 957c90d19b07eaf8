"""Old path of the aging and payment history pages, which now live in
``billing.views.receivables``.

Imported from outside: ``billing/admin_receivables.py`` (moved by another change, so not edited
here) still imports ``EXPORT_TYPES`` and ``aging_export_response`` from this path. Hidden
coupling, to clean up: once it imports from ``billing.views``, delete this module."""

from billing.views.receivables import EXPORT_TYPES, aging_export_response

__all__ = ["EXPORT_TYPES", "aging_export_response"]
