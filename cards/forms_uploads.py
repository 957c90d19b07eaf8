"""Old path of the order file forms, which now live in ``cards.forms.uploads``.

Imported from outside: ``cards/admin_import.py`` (moved by another change, so not edited here)
still imports ``SupportUploadForm`` from this path. Hidden coupling, to clean up: once it
imports from ``cards.forms``, delete this module."""

from cards.forms.uploads import UPLOAD_ACCEPT, ConfirmUploadForm, SupportUploadForm, UploadForm

__all__ = ["UPLOAD_ACCEPT", "ConfirmUploadForm", "SupportUploadForm", "UploadForm"]
