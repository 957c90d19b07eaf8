"""Company KYC in the operators' admin (docs/kyc.md), mixed into the company admin:

- the company's KYC state in the list and on its page;
- "Record a KYC decision": approve (waits for a second operator), reject, ask for more
  information, suspend; each with a reason (``portal.services.kyc.kyc_decide``);
- "Confirm approval" / "Decline approval" for another operator's waiting approval;
- "Upload a document" (the business licence or the agent's authorisation);
- each document's content, served only here: as an attachment, never cached, every serve
  audited (``company_document_open``).

Decisions need the ``portal.decide_kyc`` permission; uploads the company change permission;
reading a document the company view permission. Anyone else, signed out or a buyer, meets the
admin's sign-in page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.kyc_selectors import current_documents, latest_review, waiting_approval
from portal.models import Company, CompanyDocument, CompanyReview, User
from portal.services.audit import client_ip
from portal.services.kyc import (
    company_document_open,
    company_document_upload,
    kyc_approval_confirm,
    kyc_approval_decline,
    kyc_decide,
)

DECIDE_PERMISSION = "portal.decide_kyc"
FORM_TEMPLATE = "admin/portal/kyc_form.html"


class KycDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=CompanyReview.Decision.choices,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept with the company's KYC history and the audit trail."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept with the company's KYC history and the audit trail."),
    )


class DocumentUploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Document"), choices=CompanyDocument.Kind.choices)
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("A PDF, JPEG or PNG scan. An earlier one is kept, as history."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )


def _errors(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, PermissionDenied):
        return [str(exc) or _("Not allowed.")]
    return list(exc.messages)


def kyc_state_label(review: CompanyReview | None) -> str:
    if review is None:
        return str(_("Not reviewed"))
    if review.status == CompanyReview.Status.WAITING:
        return str(_("Approval waits for a second operator"))
    if review.status == CompanyReview.Status.DECLINED:
        return str(_("Approval declined"))
    return str(review.get_decision_display())


class CompanyKycMixin:
    """KYC pages and columns for ``CompanyAdmin`` (an ``admin.ModelAdmin``)."""

    admin_site: admin.AdminSite
    opts: Any

    @staticmethod
    def document_url(document: CompanyDocument) -> str:
        return reverse(
            "admin:portal_company_kyc_document", args=[document.company_id, document.public_id]
        )

    @admin.display(description=gettext_lazy("KYC"))
    def kyc_state(self, obj: Company) -> str:
        return kyc_state_label(latest_review(obj))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/kyc/decide/",
                view(self.kyc_decide_view),
                name="portal_company_kyc_decide",
            ),
            path(
                "<int:object_id>/kyc/upload/",
                view(self.kyc_upload_view),
                name="portal_company_kyc_upload",
            ),
            path(
                "<int:object_id>/kyc/documents/<uuid:document_id>/",
                view(self.kyc_document_view),
                name="portal_company_kyc_document",
            ),
            path(
                "<int:object_id>/kyc/confirm/",
                view(self.kyc_confirm_view),
                name="portal_company_kyc_confirm",
            ),
            path(
                "<int:object_id>/kyc/decline/",
                view(self.kyc_decline_view),
                name="portal_company_kyc_decline",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(DECIDE_PERMISSION))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        company = Company.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        kyc: dict[str, Any] | None = None
        if company is not None:
            waiting = waiting_approval(company)
            kyc = {
                "documents": [
                    (CompanyDocument.Kind(kind).label, document)
                    for kind, document in current_documents(company).items()
                ],
                "state": kyc_state_label(latest_review(company)),
                "waiting": waiting,
                # The approver may withdraw their approval, never confirm it.
                "own_approval": waiting is not None and waiting.decided_by_id == request.user.pk,
                "can_decide": self.has_decide_permission(request),
                "can_upload": self.has_change_permission(request, company),  # type: ignore[attr-defined]
                "decide_url": reverse("admin:portal_company_kyc_decide", args=[company.pk]),
                "upload_url": reverse("admin:portal_company_kyc_upload", args=[company.pk]),
                "confirm_url": reverse("admin:portal_company_kyc_confirm", args=[company.pk]),
                "decline_url": reverse("admin:portal_company_kyc_decline", args=[company.pk]),
            }
        return super().change_view(  # type: ignore[misc]
            request, object_id, form_url, extra_context={**(extra_context or {}), "kyc": kyc}
        )

    # --- pages ---------------------------------------------------------------------------------

    def _company(self, request: HttpRequest, object_id: int) -> Company:
        company = Company.objects.filter(pk=object_id).first()
        if company is None:
            raise Http404
        return company

    def _back(self, company: Company) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:portal_company_change", args=[company.pk]))

    def _page(
        self,
        request: HttpRequest,
        company: Company,
        *,
        title: str,
        form: forms.Form,
        submit: str,
        intro: list[str],
        summary: list[tuple[str, str]] | None = None,
        errors: list[str] | None = None,
        multipart: bool = False,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "company": company,
            "form": form,
            "submit": submit,
            "intro": intro,
            "summary": summary or [],
            "errors": errors or [],
            "multipart": multipart,
            "back": reverse("admin:portal_company_change", args=[company.pk]),
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    def kyc_decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.has_decide_permission(request):
            raise PermissionDenied
        company = self._company(request, object_id)
        form = KycDecisionForm(request.POST or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                review = kyc_decide(
                    company=company,
                    decision=form.cleaned_data["decision"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                if review.status == CompanyReview.Status.WAITING:
                    message = _(
                        "Approval of %(company)s recorded. It becomes active when a second "
                        "operator confirms it."
                    )
                else:
                    message = _("Decision on %(company)s recorded: %(decision)s.")
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    message
                    % {"company": company.legal_name, "decision": review.get_decision_display()},
                    messages.SUCCESS,
                )
                return self._back(company)
        return self._page(
            request,
            company,
            title=_("KYC decision on %(company)s") % {"company": company.legal_name},
            form=form,
            submit=_("Record the decision"),
            intro=[
                _(
                    "An approval activates the company only once a second operator confirms it. "
                    "Rejecting or asking for more information leaves its status as it is; "
                    "suspending stops an active company at once."
                )
            ],
            summary=[
                (_("Status"), company.get_status_display()),
                (_("Unified social credit code"), company.credit_code),
            ],
            errors=errors,
        )

    def _waiting(self, request: HttpRequest, object_id: int) -> tuple[Company, CompanyReview]:
        if not self.has_decide_permission(request):
            raise PermissionDenied
        company = self._company(request, object_id)
        review = waiting_approval(company)
        if review is None:
            raise Http404
        return company, review

    def _approval_summary(self, review: CompanyReview) -> list[tuple[str, str]]:
        return [
            (_("Approved by"), review.decided_by.email),
            (_("Reason"), review.reason),
        ]

    def kyc_confirm_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        company, review = self._waiting(request, object_id)
        form = forms.Form(request.POST or None)
        errors: list[str] = []
        if request.method == "POST":
            try:
                kyc_approval_confirm(
                    review=review,
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    _("Approval confirmed: %(company)s is active.")
                    % {"company": company.legal_name},
                    messages.SUCCESS,
                )
                return self._back(company)
        return self._page(
            request,
            company,
            title=_("Confirm the approval of %(company)s") % {"company": company.legal_name},
            form=form,
            submit=_("Confirm and activate"),
            intro=[_("Confirming activates the company now, in your name.")],
            summary=self._approval_summary(review),
            errors=errors,
        )

    def kyc_decline_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        company, review = self._waiting(request, object_id)
        form = ReasonForm(request.POST or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                kyc_approval_decline(
                    review=review,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    _("Approval of %(company)s declined; its status is unchanged.")
                    % {"company": company.legal_name},
                    messages.SUCCESS,
                )
                return self._back(company)
        return self._page(
            request,
            company,
            title=_("Decline the approval of %(company)s") % {"company": company.legal_name},
            form=form,
            submit=_("Decline"),
            intro=[_("Declining leaves the company's status as it is.")],
            summary=self._approval_summary(review),
            errors=errors,
        )

    def kyc_upload_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        company = self._company(request, object_id)
        if not self.has_change_permission(request, company):  # type: ignore[attr-defined]
            raise PermissionDenied
        form = DocumentUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                document = company_document_upload(
                    company=company,
                    kind=form.cleaned_data["kind"],
                    upload=form.cleaned_data["file"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
                    for field, field_errors in exc.error_dict.items():
                        form.add_error(field if field in form.fields else None, field_errors)
                else:
                    form.add_error(None, _errors(exc))
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    _("%(document)s “%(name)s” kept for %(company)s.")
                    % {
                        "document": document.get_kind_display(),
                        "name": document.original_name,
                        "company": company.legal_name,
                    },
                    messages.SUCCESS,
                )
                return self._back(company)
        return self._page(
            request,
            company,
            title=_("Upload a document for %(company)s") % {"company": company.legal_name},
            form=form,
            submit=_("Upload"),
            intro=[
                _(
                    "The file is kept privately; only operators can open it, and every opening "
                    "is recorded in the audit trail."
                )
            ],
            multipart=True,
        )

    def kyc_document_view(
        self, request: HttpRequest, object_id: int, document_id: Any
    ) -> FileResponse:
        company = self._company(request, object_id)
        if not self.has_view_permission(request, company):  # type: ignore[attr-defined]
            raise PermissionDenied
        document = CompanyDocument.objects.filter(company=company, public_id=document_id).first()
        if document is None:
            raise Http404
        operator: User = request.user  # type: ignore[assignment]
        content = company_document_open(document=document, actor=operator, ip=client_ip(request))
        response = FileResponse(
            content.handle,
            as_attachment=True,
            filename=content.filename,
            content_type=content.content_type,
        )
        response["X-Content-SHA256"] = content.sha256
        add_never_cache_headers(response)
        response["Cache-Control"] = "no-store, private"
        return response
