"""Reads of company KYC shared by the admin pages, the owner's documents page and the operators'
console: the current documents, the decision that stands, the companies waiting for review."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from portal.models import Company, CompanyDocument, CompanyReview


def current_documents(company: Company) -> dict[str, CompanyDocument | None]:
    """The latest document of each kind (None: not uploaded yet), in the kinds' order."""
    latest: dict[str, CompanyDocument | None] = dict.fromkeys(CompanyDocument.Kind.values)
    for document in CompanyDocument.objects.filter(company=company).order_by(
        "kind", "-uploaded_at", "-id"
    ):
        if latest[document.kind] is None:
            latest[document.kind] = document
    return latest


def document_history(company: Company) -> QuerySet[CompanyDocument]:
    return CompanyDocument.objects.filter(company=company).select_related("uploaded_by")


def latest_review(company: Company) -> CompanyReview | None:
    return (
        CompanyReview.objects.filter(company=company)
        .select_related("decided_by", "checked_by")
        .order_by("-decided_at", "-id")
        .first()
    )


def waiting_approval(company: Company) -> CompanyReview | None:
    return (
        CompanyReview.objects.filter(company=company, status=CompanyReview.Status.WAITING)
        .select_related("decided_by")
        .first()
    )


def companies_awaiting_kyc() -> QuerySet[Company]:
    """The operators' KYC queue: pending companies, and any with an approval that waits for a
    second operator."""
    waiting = CompanyReview.objects.filter(
        company=OuterRef("pk"), status=CompanyReview.Status.WAITING
    )
    return Company.objects.filter(Q(status=Company.Status.PENDING) | Q(Exists(waiting)))
