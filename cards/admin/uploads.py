"""Order files uploaded by support for a company.

Order files: an order file becomes one order, not rows of a table, so support uploads it through
``cards.services.uploads`` (the portal's check, preview and confirm) from a page of the order
file admin, never through the import-export machinery.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _

from billing.admin import ReadOnlyAdmin
from cards.forms.uploads import SupportUploadForm
from cards.models import OrderUpload
from cards.services.uploads import (
    upload_confirm,
    upload_discard,
    upload_progress,
    upload_receive,
    upload_result_for_reader,
)
from portal.models import User
from portal.services.audit import client_ip

# --- Order files (support uploads for a company) -------------------------------------------------

UPLOAD_PERMISSION = "cards.add_orderupload"


@admin.register(OrderUpload)
class OrderUploadAdmin(ReadOnlyAdmin):
    """Every order file, read only (the file's contents are never shown), and a page where
    support uploads a file for a company: the portal's check, preview and confirm."""

    list_display = [
        "created_at",
        "file_name",
        "company",
        "created_by",
        "on_behalf",
        "status",
        "rows_total",
        "error_count",
        "order",
    ]
    list_filter = ["status", "on_behalf", "file_format"]
    search_fields = ["file_name", "company__legal_name", "company__credit_code", "order__number"]
    list_select_related = ["company", "created_by", "order"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "company",
        "created_by",
        "on_behalf",
        "file_name",
        "file_size",
        "file_format",
        "encoding",
        "file_sha256",
        "payment_method",
        "delivery_method",
        "status",
        "rows_total",
        "error_count",
        "failure",
        "order",
        "created_at",
        "checked_at",
        "confirmed_at",
    ]
    change_list_template = "cards/uploads/admin_change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderUpload]:
        return super().get_queryset(request).defer("result")

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "upload/",
                view(self.upload_view),
                name="cards_orderupload_upload",
            ),
            path(
                "<int:upload_id>/preview/",
                view(self.preview_view),
                name="cards_orderupload_preview",
            ),
            *super().get_urls(),
        ]

    def _require_upload_permission(self, request: HttpRequest) -> None:
        if not request.user.has_perm(UPLOAD_PERMISSION):
            raise PermissionDenied

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        self._require_upload_permission(request)
        form = SupportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                upload = upload_receive(
                    company=data["company"],
                    actor=cast(User, request.user),
                    file=data["file"],
                    payment_method=data["payment_method"],
                    delivery_method=data["delivery_method"],
                    on_behalf=True,
                    for_member=data["purchaser"],
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(
                    reverse("admin:cards_orderupload_preview", args=[upload.pk])
                )
        return TemplateResponse(
            request,
            "cards/uploads/admin_upload.html",
            self._context(request, _("Upload an order file for a company"), form=form),
        )

    def preview_view(self, request: HttpRequest, upload_id: int) -> HttpResponse:
        self._require_upload_permission(request)
        upload = (
            OrderUpload.objects.select_related("company", "created_by", "order")
            .filter(pk=upload_id)
            .first()
        )
        if upload is None:
            raise Http404
        actor = cast(User, request.user)
        duplicate_message = ""
        if request.method == "POST":
            try:
                if "discard" in request.POST:
                    upload_discard(upload=upload, actor=actor)
                    self.message_user(request, _("The order file was discarded."))
                    return HttpResponseRedirect(reverse("admin:cards_orderupload_changelist"))
                order = upload_confirm(
                    upload=upload,
                    actor=actor,
                    allow_duplicate=bool(request.POST.get("allow_duplicate")),
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                if getattr(exc, "code", None) == "duplicate_upload":
                    duplicate_message = " ".join(exc.messages)
                else:
                    self.message_user(request, " ".join(exc.messages), level=messages.ERROR)
                    return HttpResponseRedirect(request.path)
            except PermissionDenied as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                return HttpResponseRedirect(request.path)
            else:
                self.message_user(
                    request,
                    _("Draft order %(number)s was created for %(company)s.")
                    % {"number": order.number, "company": upload.company.legal_name},
                )
                return HttpResponseRedirect(reverse("admin:cards_order_change", args=[order.pk]))
        result = upload_result_for_reader(upload.result or {})
        errors = list(result["errors"])
        return TemplateResponse(
            request,
            "cards/uploads/admin_preview.html",
            self._context(
                request,
                _("Order file %(name)s") % {"name": upload.file_name},
                upload=upload,
                result=result,
                errors=errors[:200],
                errors_hidden=max(upload.error_count - min(len(errors), 200), 0),
                progress=upload_progress(upload),
                duplicate_of=list(result.get("duplicate_of") or []),
                duplicate_message=duplicate_message,
            ),
            status=409 if duplicate_message else 200,
        )
