"""Company KYC (docs/kyc.md): documents a company sends (``documents``) and the operators'
review decisions with maker-checker for activation (``review``)."""

from portal.services.kyc.base import KycAction
from portal.services.kyc.documents import (
    DocumentContent,
    company_document_open,
    company_document_upload,
)
from portal.services.kyc.review import (
    kyc_approval_confirm,
    kyc_approval_decline,
    kyc_decide,
)

__all__ = [
    "DocumentContent",
    "KycAction",
    "company_document_open",
    "company_document_upload",
    "kyc_approval_confirm",
    "kyc_approval_decline",
    "kyc_decide",
]
