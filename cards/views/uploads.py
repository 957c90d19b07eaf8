"""Portal pages of order files: upload, the check's preview (with live progress for files checked
by a worker), the error file, confirm or discard, the upload history and the templates.

Owners and purchasers of the active company only; every upload is looked up through
``portal.access`` scoped to the active company, so another company's upload is a 404. The pages
change state only through ``cards.services.uploads``.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from cards.forms import ConfirmUploadForm, UploadForm
from cards.models import OrderUpload, UploadStatus
from cards.services.uploads import (
    upload_confirm,
    upload_discard,
    upload_error_file,
    upload_errors,
    upload_messages,
    upload_progress,
    upload_receive,
    upload_template,
)
from portal.access import (
    active_company,
    company_objects,
    get_company_object_or_404,
    policy_required,
)
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip

UPLOADS_PER_PAGE = 25
# Errors listed on the page; all of them (up to the check's cap) are in the error file.
ERRORS_ON_PAGE = 200
TEMPLATE_LANGUAGES = ("zh-hans", "en")
FILE_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DUPLICATE_CODE = "duplicate_upload"

uploader_required = policy_required(Action.ORDER_UPLOAD)


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _upload(request: HttpRequest, public_id: Any) -> OrderUpload:
    return get_company_object_or_404(
        request, OrderUpload.objects.select_related("created_by", "order"), public_id=public_id
    )


def _download(content: bytes, *, file_name: str, fmt: str) -> HttpResponse:
    """The bytes the services made, as an attachment."""
    response = HttpResponse(content, content_type=FILE_FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


def _is_duplicate(exc: ValidationError) -> bool:
    codes = {getattr(exc, "code", None)}
    codes.update(getattr(error, "code", None) for error in getattr(exc, "error_list", []))
    return DUPLICATE_CODE in codes


def _error_file_name(upload: OrderUpload, fmt: str) -> str:
    return f"errors-{upload.public_id}.{fmt}"


# --- Upload --------------------------------------------------------------------------------------


@uploader_required
def upload_new(request: HttpRequest) -> HttpResponse:
    """The upload form. ``replaces`` (a previous upload of the company not yet confirmed) is
    discarded once the fixed file has been received."""
    replaces = request.POST.get("replaces") or request.GET.get("replaces") or ""
    previous = None
    if replaces:
        previous = _upload(request, replaces)
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                upload = upload_receive(
                    company=active_company(request),
                    actor=_actor(request),
                    file=form.cleaned_data["file"],
                    payment_method=form.cleaned_data["payment_method"],
                    delivery_method=form.cleaned_data["delivery_method"],
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            else:
                if previous is not None and previous.status not in (
                    UploadStatus.CONFIRMED,
                    UploadStatus.DISCARDED,
                ):
                    upload_discard(upload=previous, actor=_actor(request))
                return redirect("cards:upload_detail", public_id=upload.public_id)
    else:
        initial = {}
        if previous is not None:
            initial = {
                "payment_method": previous.payment_method,
                "delivery_method": previous.delivery_method,
            }
        form = UploadForm(initial=initial)
    return render(
        request,
        "cards/uploads/upload_form.html",
        {"form": form, "previous": previous, "languages": TEMPLATE_LANGUAGES},
    )


@require_GET
@uploader_required
def upload_template_view(request: HttpRequest, language: str, fmt: str) -> HttpResponse:
    if language not in TEMPLATE_LANGUAGES or fmt not in FILE_FORMATS:
        raise Http404
    content = upload_template(language=language, fmt=fmt, company=active_company(request))
    return _download(content, file_name=f"order-template-{language}.{fmt}", fmt=fmt)


# --- The check's preview -------------------------------------------------------------------------


def _detail_context(upload: OrderUpload) -> dict[str, Any]:
    result: dict[str, Any] = upload.result or {}
    errors = upload_errors(result)
    shown = errors[:ERRORS_ON_PAGE]
    notes = upload_messages(result, "notes")
    warnings = upload_messages(result, "warnings")
    return {
        "upload": upload,
        "result": result,
        "totals": result.get("totals") or [],
        "notes": notes,
        "notes_hidden": max(int(result.get("note_count") or 0) - len(notes), 0),
        "warnings": warnings,
        "warnings_hidden": max(int(result.get("warning_count") or 0) - len(warnings), 0),
        "errors": shown,
        "error_count": upload.error_count,
        "errors_hidden": max(upload.error_count - len(shown), 0),
        "progress": upload_progress(upload),
        "can_confirm": upload.status == UploadStatus.VALID,
        "can_discard": upload.status
        in (UploadStatus.VALID, UploadStatus.INVALID, UploadStatus.FAILED, UploadStatus.CHECKING),
        "can_replace": upload.status not in (UploadStatus.CONFIRMED, UploadStatus.CHECKING),
        "duplicate_of": list(result.get("duplicate_of") or []),
    }


@require_GET
@uploader_required
def upload_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    upload = _upload(request, public_id)
    context = _detail_context(upload)
    context["confirm_form"] = ConfirmUploadForm(duplicate=bool(context["duplicate_of"]))
    return render(request, "cards/uploads/upload_detail.html", context)


@require_GET
@never_cache
@uploader_required
def upload_progress_view(request: HttpRequest, public_id: Any) -> JsonResponse:
    upload = _upload(request, public_id)
    return JsonResponse(upload_progress(upload))


@require_GET
@uploader_required
def upload_errors_view(request: HttpRequest, public_id: Any, fmt: str) -> HttpResponse:
    if fmt not in FILE_FORMATS:
        raise Http404
    upload = _upload(request, public_id)
    if not upload.finished or upload.error_count == 0:
        raise Http404
    content = upload_error_file(upload, fmt)
    return _download(content, file_name=_error_file_name(upload, fmt), fmt=fmt)


# --- Confirm, discard ----------------------------------------------------------------------------


@require_POST
@uploader_required
def upload_confirm_view(request: HttpRequest, public_id: Any) -> HttpResponse:
    upload = _upload(request, public_id)
    form = ConfirmUploadForm(request.POST, duplicate=True)
    allow_duplicate = form.is_valid() and bool(form.cleaned_data.get("allow_duplicate"))
    try:
        order = upload_confirm(
            upload=upload,
            actor=_actor(request),
            allow_duplicate=allow_duplicate,
            ip=client_ip(request),
        )
    except ValidationError as exc:
        if _is_duplicate(exc):
            upload.refresh_from_db()
            context = _detail_context(upload)
            context["duplicate_message"] = " ".join(exc.messages)
            context["confirm_form"] = ConfirmUploadForm(duplicate=True)
            return render(request, "cards/uploads/upload_detail.html", context, status=409)
        for message in exc.messages:
            messages.error(request, message)
        return redirect("cards:upload_detail", public_id=upload.public_id)
    messages.success(
        request,
        _("Draft order %(number)s was created from %(file)s. Check it, then submit it.")
        % {"number": order.number, "file": upload.file_name},
    )
    return redirect("cards:order_detail", number=order.number)


@require_POST
@uploader_required
def upload_discard_view(request: HttpRequest, public_id: Any) -> HttpResponse:
    upload = _upload(request, public_id)
    try:
        upload_discard(upload=upload, actor=_actor(request))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("cards:upload_detail", public_id=upload.public_id)
    messages.success(request, _("%(file)s was discarded.") % {"file": upload.file_name})
    return redirect("cards:upload_list")


# --- History -------------------------------------------------------------------------------------


@require_GET
@uploader_required
def upload_list(request: HttpRequest) -> HttpResponse:
    uploads = (
        company_objects(request, OrderUpload)
        .select_related("created_by", "order")
        .defer("result")
        .order_by("-created_at", "-id")
    )
    page = Paginator(uploads, UPLOADS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "cards/uploads/upload_list.html", {"page": page})
