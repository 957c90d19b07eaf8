"""The owner's KYC documents page (company settings): upload the business licence and the
agent's letter of authorisation, and see what was sent (name and date, never the content
again) and what the operators decided. Operators read the files in the admin only."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.access import active_membership, policy_required
from portal.kyc_selectors import current_documents, document_history, latest_review
from portal.models import CompanyDocument, CompanyReview, User
from portal.policy import Action
from portal.services.audit import client_ip
from portal.services.kyc import company_document_upload


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Document"), choices=CompanyDocument.Kind.choices)
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "A PDF, or a photo in JPEG or PNG. Uploading again replaces the document; the "
            "earlier one is kept for our records."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )


@policy_required(Action.COMPANY_DOCUMENTS)
def company_documents(request: HttpRequest) -> HttpResponse:
    membership = active_membership(request)
    company = membership.company
    form = DocumentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        actor: User = request.user  # type: ignore[assignment]
        try:
            document = company_document_upload(
                company=company,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                actor=actor,
                ip=client_ip(request),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("%(document)s “%(name)s” received. Our operators will review it.")
                % {"document": document.get_kind_display(), "name": document.original_name},
            )
            return redirect("portal:company_documents")
    review = latest_review(company)
    # Owners see why more information is asked for, or why the company was rejected.
    shown_review = (
        review
        if review is not None
        and review.decision
        in (CompanyReview.Decision.MORE_INFORMATION, CompanyReview.Decision.REJECT)
        else None
    )
    return render(
        request,
        "portal/company_documents.html",
        {
            "company": company,
            "form": form,
            "current": [
                (CompanyDocument.Kind(kind).label, document)
                for kind, document in current_documents(company).items()
            ],
            "history": document_history(company),
            "review": shown_review,
        },
    )
