"""Portal pages of delivery by file: an owner or finance member downloads an order's codes.

1. ``code_download`` (GET) lists the order's earlier downloads and asks for the current code of
   the authenticator app, even though the session passed a second factor at sign-in: revealing
   codes needs a *fresh* check, which counts for ``CODE_REVEAL_2FA_MINUTES`` minutes.
2. ``code_download`` (POST) checks that code, records the download and shows the archive
   password once (``Cache-Control: no-store``), with a "Download" button that posts a ticket.
3. ``code_archive`` (POST) opens the ticket, builds the archive in a temporary file and streams
   it. The ticket design (why the password is never stored, never in a URL) is described in
   ``cards.services.code_export``. A ticket works once; a second post of a ticket already used
   (a double click) answers 204 No Content, so the browser stays on the password page while
   the first response downloads.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from cards.models import CodeDownload, Order
from cards.services.code_allowance import code_download_allowance, code_download_refusal
from cards.services.code_export import (
    TICKET_MAX_AGE,
    archive_filename,
    archive_ticket_issue,
    archive_ticket_open,
    code_archive_claim,
    code_archive_fetched,
    code_archive_file,
    code_export_start,
)
from portal.access import (
    FRESH_2FA_SESSION_KEY,
    company_member_required,
    fresh_2fa_passed,
    fresh_2fa_record,
    get_company_object_or_404,
    require,
)
from portal.forms import TokenForm
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip
from portal.services.auth import confirmed_totp_device, two_factor_verify

__all__ = ["FRESH_2FA_SESSION_KEY", "code_archive", "code_download", "fresh_2fa_passed"]
ARCHIVE_BLOCK_SIZE = 1 << 16


class CodeDownloadForm(TokenForm):
    """The current authenticator code (left out while an earlier check is still fresh) and the
    number of downloads the person saw."""

    seen = forms.IntegerField(min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, needs_token: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if needs_token:
            self.fields["token"].help_text = gettext_lazy(
                "If the code you signed in with is still showing, wait for the next one."
            )
        else:
            del self.fields["token"]


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _downloadable_order(request: HttpRequest, number: str) -> Order:
    order = get_company_object_or_404(
        request, Order.objects.select_related("company"), number=number
    )
    require(request, Action.CODES_DOWNLOAD)
    return order


def _error_texts(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]


def _page(
    request: HttpRequest, order: Order, form: CodeDownloadForm, errors: list[str]
) -> HttpResponse:
    allowance = code_download_allowance(order)
    return render(
        request,
        "cards/code_download.html",
        {
            "order": order,
            "downloads": allowance.newest_first,
            "limit": allowance.limit,
            "remaining": allowance.remaining,
            "refusal": code_download_refusal(order),
            "has_device": confirmed_totp_device(_actor(request)) is not None,
            "form": form,
            "errors": errors,
        },
    )


@sensitive_post_parameters("token")
@never_cache
@require_http_methods(["GET", "POST"])
@company_member_required
@sensitive_variables()
def code_download(request: HttpRequest, number: str) -> HttpResponse:
    order = _downloadable_order(request, number)
    user = _actor(request)
    fresh = fresh_2fa_passed(request)
    form = CodeDownloadForm(
        request.POST if request.method == "POST" else None,
        needs_token=not fresh,
        initial={"seen": CodeDownload.objects.filter(order=order).count()},
    )
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        if not fresh:
            if two_factor_verify(user=user, token=form.cleaned_data["token"], request=request):
                fresh_2fa_record(request)
                fresh = True
            else:
                form.add_error(
                    "token",
                    _(
                        "That code is wrong or was already used. Enter the current code from "
                        "your app; if it is the one you signed in with, wait for the next one."
                    ),
                )
        if fresh:
            try:
                download, password = code_export_start(
                    order=order,
                    user=user,
                    ip=client_ip(request),
                    seen_downloads=form.cleaned_data["seen"],
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _error_texts(exc)
            else:
                response = render(
                    request,
                    "cards/code_download_ready.html",
                    {
                        "order": order,
                        "download": download,
                        "password": password,
                        "ticket": archive_ticket_issue(download=download, password=password),
                        "ticket_minutes": TICKET_MAX_AGE // 60,
                    },
                )
                add_never_cache_headers(response)
                return response
    return _page(request, order, form, errors)


@sensitive_post_parameters("ticket")
@never_cache
@require_POST
@login_required
@sensitive_variables()
def code_archive(request: HttpRequest, number: str) -> HttpResponseBase:
    order = _downloadable_order(request, number)
    user = _actor(request)
    try:
        download, password = archive_ticket_open(
            request.POST.get("ticket", ""), order=order, user=user
        )
        if code_archive_fetched(download):
            return HttpResponse(status=204)
        # Built before the claim: a failure here leaves the ticket usable for another try.
        archive = code_archive_file(download=download, password=password)
        try:
            code_archive_claim(download=download, user=user, ip=client_ip(request))
        except BaseException:
            archive.close()
            raise
    except (ValidationError, PermissionDenied) as exc:
        if isinstance(exc, ValidationError) and exc.code == "fetched":
            return HttpResponse(status=204)
        form = CodeDownloadForm(
            needs_token=not fresh_2fa_passed(request),
            initial={"seen": CodeDownload.objects.filter(order=order).count()},
        )
        response = _page(request, order, form, _error_texts(exc))
        response.status_code = 410 if isinstance(exc, ValidationError) else 403
        return response
    archive_response = FileResponse(
        archive,
        as_attachment=True,
        filename=archive_filename(order),
        content_type="application/zip",
    )
    archive_response.block_size = ARCHIVE_BLOCK_SIZE
    add_never_cache_headers(archive_response)
    return archive_response
