"""Company KYC (docs/kyc.md): where the documents companies send are kept, how large they may be,
and the credit line above which a second operator must confirm."""

from __future__ import annotations

from decimal import Decimal

from .base import VAR_DIR, env

# Business licences and authorisation letters: a folder of their own, outside MEDIA_ROOT and the
# static files, that no URL serves. Operators fetch them through an audited admin view.
KYC_DOCUMENTS_ROOT = env.str("KYC_DOCUMENTS_ROOT", default=str(VAR_DIR / "private" / "kyc"))
# Refused above this size, before anything is stored.
KYC_DOCUMENT_MAX_BYTES = env.int("KYC_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
# A credit line set, or raised, above this limit (CNY) takes effect only once a second operator
# confirms it; lowering a line, or changing its terms without raising it, never waits.
KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE = Decimal(
    env.str("KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE", default="100000.00")
)
