"""Portal pages of statements: the active company's list with download links and checksums, an
on-demand request for any finished date range (finance and owners; last month is offered first)
and a retry of a failed statement. Every statement is looked up through ``portal.access`` scoped
to the active company: another company's statement is a 404."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from billing.downloads import statement_file_response
from billing.models import Statement
from billing.services.statements import (
    StatementStateError,
    last_month,
    statement_request,
    statement_retry,
)
from portal.access import (
    active_company,
    can,
    company_objects,
    get_company_object_or_404,
    policy_required,
)
from portal.policy import Action
from portal.services.audit import client_ip

STATEMENTS_PER_PAGE = 25


class StatementRequestForm(forms.Form):
    # A date input takes ISO dates whatever the language (Chinese formats would leave it empty).
    period_start = forms.DateField(
        label=gettext_lazy("From"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    period_end = forms.DateField(
        label=gettext_lazy("To"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _request_form() -> StatementRequestForm:
    """The request form, offering the month that just ended (Asia/Shanghai days)."""
    start, end = last_month()
    return StatementRequestForm(initial={"period_start": start, "period_end": end})


def _list_page(
    request: HttpRequest, form: StatementRequestForm | None, *, page: str | None = None
) -> dict[str, object]:
    statements = company_objects(request, Statement).prefetch_related("files")
    return {
        "page": Paginator(statements, STATEMENTS_PER_PAGE).get_page(page),
        "form": form,
        "can_request": can(request, Action.STATEMENTS_REQUEST),
    }


@policy_required(Action.STATEMENTS_READ)
def statement_list(request: HttpRequest) -> HttpResponse:
    form = _request_form() if can(request, Action.STATEMENTS_REQUEST) else None
    return render(
        request,
        "billing/statements/list.html",
        _list_page(request, form, page=request.GET.get("page")),
    )


@require_POST
@policy_required(Action.STATEMENTS_REQUEST)
def statement_request_view(request: HttpRequest) -> HttpResponse:
    form = StatementRequestForm(request.POST)
    if form.is_valid():
        try:
            statement = statement_request(
                company=active_company(request),
                period_start=form.cleaned_data["period_start"],
                period_end=form.cleaned_data["period_end"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            if statement.status == Statement.Status.ISSUED:
                messages.info(
                    request,
                    _("Statement %(number)s for this period is already issued.")
                    % {"number": statement.number},
                )
            else:
                messages.success(
                    request,
                    _("Statement %(number)s is being prepared; it appears here when ready.")
                    % {"number": statement.number},
                )
            return redirect("billing:statement_list")
    return render(request, "billing/statements/list.html", _list_page(request, form), status=400)


@require_POST
@policy_required(Action.STATEMENTS_REQUEST)
def statement_retry_view(request: HttpRequest, public_id: str) -> HttpResponse:
    statement = get_company_object_or_404(request, Statement, public_id=public_id)
    try:
        retried = statement_retry(
            statement=statement,
            actor=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
    except StatementStateError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request,
            _("Statement %(number)s is being prepared again; it appears here when ready.")
            % {"number": retried.number},
        )
    return redirect("billing:statement_list")


@never_cache
@policy_required(Action.STATEMENTS_READ)
def statement_download(request: HttpRequest, public_id: str, fmt: str) -> HttpResponse:
    statement = get_company_object_or_404(request, Statement, public_id=public_id)
    # A streamed file; the access decorators are typed for plain responses.
    return cast(HttpResponse, statement_file_response(statement, fmt))
