"""The documents a company sends for KYC: its business licence and its agent's letter of
authorisation.

Upload. The company's owner (in the portal) or an operator (in the admin) uploads a file. It is
refused, with nothing stored, when it is empty, larger than ``KYC_DOCUMENT_MAX_BYTES``, or when
its first bytes are not those of a PDF, JPEG or PNG (the name and the browser's content type are
not trusted). A kept file lands in ``PrivateDocumentStorage`` (``KYC_DOCUMENTS_ROOT``, outside
MEDIA_ROOT and the static files; no URL serves it) under a fresh folder, with its SHA-256 on its
row. A replacement is a new row: earlier files stay, as history.

Reading. Only operators read a document's content (``company_document_open``): its bytes are
checked against the SHA-256 first and every read is audited. Owners see that a document was
uploaded (its name and date), never its content again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from portal import policy
from portal.errors import DomainError
from portal.models import Company, CompanyDocument, User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.kyc.base import KycAction, require_operator

# The first bytes of each kind of file we keep, and the extension it is stored with.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def max_document_bytes() -> int:
    return int(settings.KYC_DOCUMENT_MAX_BYTES)


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """The content type and extension of a file from its first bytes, or None when it is not
    a PDF, a JPEG or a PNG."""
    for signature, content_type, extension in SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    return None


def _display_name(upload: UploadedFile) -> str:
    # Browsers send a bare name; some old ones send a whole Windows path.
    name = os.path.basename(str(upload.name or "").replace("\\", "/")).strip()
    return name[:255] or _("(no name)")


def _refuse(message: str, code: str) -> DomainError:
    return DomainError({"file": [ValidationError(message, code=code)]}, code=code)


def _check(upload: UploadedFile, name: str) -> tuple[str, str]:
    size = upload.size or 0
    if size == 0:
        raise _refuse(
            _("“%(name)s” is empty; choose the scanned document.") % {"name": name}, "empty"
        )
    if size > max_document_bytes():
        raise _refuse(
            _(
                "“%(name)s” is %(size)s; a document may be at most %(limit)s. Scan it at a lower "
                "resolution or save it as a smaller PDF."
            )
            % {
                "name": name,
                "size": filesizeformat(size),
                "limit": filesizeformat(max_document_bytes()),
            },
            "too_large",
        )
    upload.seek(0)
    sniffed = sniff_content_type(upload.read(16))
    upload.seek(0)
    if sniffed is None:
        raise _refuse(
            _(
                "“%(name)s” is not a PDF, JPEG or PNG file (its content is not, whatever its name "
                "says). Upload the document as a PDF or a photo in JPEG or PNG."
            )
            % {"name": name},
            "wrong_type",
        )
    return sniffed


def _require_uploader(company: Company, actor: User) -> None:
    if actor.is_active and actor.is_staff:
        return
    policy.require(company, actor, Action.COMPANY_DOCUMENTS)


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@transaction.atomic
def company_document_upload(
    *,
    company: Company,
    kind: str,
    upload: UploadedFile,
    actor: User,
    ip: str | None = None,
) -> CompanyDocument:
    """Keep one document of the company (a new row; earlier ones stay as history)."""
    if kind not in CompanyDocument.Kind.values:
        raise DomainError({"kind": _("Choose which document this is.")}, code="kind")
    _require_uploader(company, actor)
    name = _display_name(upload)
    content_type, extension = _check(upload, name)
    document = CompanyDocument(
        company=company,
        kind=kind,
        original_name=name,
        content_type=content_type,
        size=upload.size or 0,
        sha256=_sha256(upload),
        uploaded_by=actor,
    )
    document.file.save(f"{kind}{extension}", upload, save=False)
    try:
        document.save()
        audit_record(
            action=KycAction.DOCUMENT_UPLOADED,
            actor=actor,
            company=company,
            obj=document,
            ip=ip,
            changes={
                "kind": kind,
                "name": name,
                "size": document.size,
                "content_type": content_type,
                "sha256": document.sha256,
            },
        )
    except BaseException:
        document.file.storage.delete(str(document.file.name))
        raise
    return document


@dataclass
class DocumentContent:
    """An open document for an operator: the handle (the caller's response closes it)."""

    handle: IO[bytes]
    filename: str
    content_type: str
    sha256: str


@transaction.atomic
def company_document_open(
    *, document: CompanyDocument, actor: User, ip: str | None = None
) -> DocumentContent:
    """An operator reads a document: its bytes checked against the SHA-256, the read audited."""
    require_operator(actor)
    handle = document.file.storage.open(str(document.file.name), "rb")
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    if digest.hexdigest() != document.sha256:
        handle.close()
        raise PermissionDenied(_("The stored file does not match its checksum; it is not served."))
    handle.seek(0)
    audit_record(
        action=KycAction.DOCUMENT_OPENED,
        actor=actor,
        company=document.company,
        obj=document,
        ip=ip,
        changes={"kind": document.kind, "name": document.original_name, "sha256": document.sha256},
    )
    return DocumentContent(
        handle=handle,
        filename=document.original_name,
        content_type=document.content_type,
        sha256=document.sha256,
    )
