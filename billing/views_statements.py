"""Old path of the statement pages, which now live in ``billing.views.statements``.

Imported from outside: ``billing/admin_statements.py`` (moved by another change, so not edited
here) still imports ``file_response`` from this path. Hidden coupling, to clean up: once it
imports from ``billing.views``, delete this module."""

from billing.views.statements import file_response

__all__ = ["file_response"]
