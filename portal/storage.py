"""Private file storage: files kept on disk that no URL serves (company KYC documents)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible


@deconstructible
class PrivateDocumentStorage(FileSystemStorage):
    """Files under ``KYC_DOCUMENTS_ROOT`` (read at each use, so tests can point it elsewhere).
    They have no URL: the only way out is a view that checks who asks and audits the read."""

    @property
    def base_location(self) -> str:
        return str(settings.KYC_DOCUMENTS_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("private documents have no URL; serve them through an audited view")
