"""Portal pages of statements: the active company's list with download links, and an on-demand
request for any finished date range (finance and owners). Every statement is looked up through
``portal.access`` scoped to the active company: another company's statement is a 404."""

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
from billing.services.statements import statement_request
from portal.access import (
    active_company,
    can,
    company_objects,
    get_company_object_or_404,
    policy_required,
)
from portal.policy import Action

STATEMENTS_PER_PAGE = 25


class StatementRequestForm(forms.Form):
    period_start = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end = forms.DateField(
        label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"})
    )


@policy_required(Action.STATEMENTS_READ)
def statement_list(request: HttpRequest) -> HttpResponse:
    statements = company_objects(request, Statement).prefetch_related("files")
    page = Paginator(statements, STATEMENTS_PER_PAGE).get_page(request.GET.get("page"))
    can_request = can(request, Action.STATEMENTS_REQUEST)
    return render(
        request,
        "billing/statements/list.html",
        {"page": page, "form": StatementRequestForm() if can_request else None},
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
    statements = company_objects(request, Statement).prefetch_related("files")
    page = Paginator(statements, STATEMENTS_PER_PAGE).get_page(1)
    return render(request, "billing/statements/list.html", {"page": page, "form": form}, status=400)


@never_cache
@policy_required(Action.STATEMENTS_READ)
def statement_download(request: HttpRequest, public_id: str, fmt: str) -> HttpResponse:
    statement = get_company_object_or_404(request, Statement, public_id=public_id)
    # A streamed file; the access decorators are typed for plain responses.
    return cast(HttpResponse, statement_file_response(statement, fmt))
