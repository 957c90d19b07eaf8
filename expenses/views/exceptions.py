"""The exception queue of a period (/expenses/periods/<month>/exceptions/): its claim lines
filtered by state, resolution, report, employee and cost center, each with its evidence; accept
or reject with a note, link to one of the company's candidate spend or unlink a match, re-open;
and the same for the lines ticked, all or nothing.

Viewers read; owners and finance act. A line is looked up among the active company's (another
company's is a 404) and every act goes through ``expenses.services.resolution``."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from expenses.exception_queue import (
    QueueFilters,
    candidates_for,
    queue_lines,
    report_numbers,
    spend_by_public_id,
    states_for_filter,
)
from expenses.models import ExpenseLine, PeriodStatus, Resolution
from expenses.services.resolution import (
    BulkAction,
    line_accept,
    line_link,
    line_reject,
    line_reopen,
    line_unlink,
    lines_bulk_resolve,
)
from expenses.views.periods import period_or_404
from portal.access import active_company, can, get_company_object_or_404, policy_required
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip

LINES_PER_PAGE = 50
LINE_ACTIONS = ("accept", "reject", "reopen", "link", "unlink")


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(label=gettext_lazy("Result"), required=False)
    resolution = forms.ChoiceField(
        label=gettext_lazy("Resolution"),
        required=False,
        initial="open",
    )
    report = forms.ChoiceField(label=gettext_lazy("Report"), required=False)
    employee = forms.CharField(label=gettext_lazy("Employee"), required=False, max_length=100)
    cost_center = forms.CharField(label=gettext_lazy("Cost center"), required=False, max_length=64)

    def __init__(self, *args: Any, reports: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [  # type: ignore[attr-defined]
            ("", _("Every exception")),
            *states_for_filter(),
            ("all", _("Every line")),
        ]
        self.fields["resolution"].choices = [  # type: ignore[attr-defined]
            ("open", _("Open")),
            (Resolution.ACCEPTED, _("Accepted")),
            (Resolution.REJECTED, _("Rejected")),
            ("any", _("Any")),
        ]
        self.fields["report"].choices = [  # type: ignore[attr-defined]
            ("", _("Every report")),
            *((number, number) for number in reports),
        ]

    def filters(self) -> QueueFilters:
        if not self.is_bound or not self.is_valid():
            return QueueFilters()
        data = self.cleaned_data
        return QueueFilters(
            state=data["state"],
            resolution="" if data["resolution"] == "any" else (data["resolution"] or "open"),
            report=data["report"],
            employee=data["employee"].strip(),
            cost_center=data["cost_center"].strip(),
        )


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


@policy_required(Action.EXPENSES_READ)
def period_exceptions(request: HttpRequest, month: str) -> HttpResponse:
    period = period_or_404(request, month)
    reports = report_numbers(period)
    form = QueueFilterForm(request.GET or None, reports=reports)
    lines = queue_lines(period, form.filters())
    page = Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page"))
    acting = can(request, Action.EXPENSES_RESOLVE) and period.status == PeriodStatus.OPEN
    rows = list(page.object_list)
    candidates = candidates_for(active_company(request), rows) if acting else {}
    return render(
        request,
        "expenses/exceptions.html",
        {
            "period": period,
            "month": month,
            "form": form,
            "page": page,
            "rows": [(line, candidates.get(line.pk, [])) for line in rows],
            "acting": acting,
            "closed": period.status == PeriodStatus.CLOSED,
            "bulk_actions": [
                (BulkAction.ACCEPT, _("Accept")),
                (BulkAction.REJECT, _("Reject")),
                (BulkAction.REOPEN, _("Re-open")),
            ],
            "here": request.get_full_path(),
        },
    )


@require_POST
@policy_required(Action.EXPENSES_RESOLVE)
def line_resolve(request: HttpRequest, public_id: str) -> HttpResponse:
    line = get_company_object_or_404(
        request, ExpenseLine.objects.select_related("period", "company"), public_id=public_id
    )
    queue = reverse("expenses:period_exceptions", args=[f"{line.period.month:%Y-%m}"])
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")
    user, ip = _actor(request), client_ip(request)
    try:
        if action == "accept":
            line_accept(line=line, user=user, note=note, ip=ip)
            done = _("Claim %(line)s accepted.")
        elif action == "reject":
            line_reject(line=line, user=user, note=note, ip=ip)
            done = _("Claim %(line)s rejected.")
        elif action == "reopen":
            line_reopen(line=line, user=user, note=note, ip=ip)
            done = _("Claim %(line)s re-opened.")
        elif action in ("link", "unlink"):
            tx = spend_by_public_id(line.company, request.POST.get("transaction", ""))
            if tx is None:
                raise ValidationError(
                    _("No card spend of your company has this id."), code="unknown_transaction"
                )
            if action == "link":
                line_link(line=line, transaction=tx, user=user, note=note, ip=ip)
                done = _("Claim %(line)s linked to the card spend.")
            else:
                line_unlink(line=line, transaction=tx, user=user, note=note, ip=ip)
                done = _("Claim %(line)s unlinked from the card spend.")
        else:
            raise ValidationError(_("Choose what to do with the claim."), code="invalid_choice")
    except ValidationError as exc:
        label = f"{line.report_number}/{line.line_number}"
        messages.error(
            request,
            _("Claim %(line)s: %(problem)s") % {"line": label, "problem": " ".join(exc.messages)},
        )
    else:
        messages.success(request, done % {"line": f"{line.report_number}/{line.line_number}"})
    return _back(request, queue)


@require_POST
@policy_required(Action.EXPENSES_RESOLVE)
def period_bulk_resolve(request: HttpRequest, month: str) -> HttpResponse:
    period = period_or_404(request, month)
    queue = reverse("expenses:period_exceptions", args=[month])
    ids = request.POST.getlist("lines")
    action = request.POST.get("action", "")
    try:
        done = lines_bulk_resolve(
            company=active_company(request),
            line_ids=ids,
            action=action,
            user=_actor(request),
            note=request.POST.get("note", ""),
            ip=client_ip(request),
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            ngettext("%(count)s claim line changed.", "%(count)s claim lines changed.", len(done))
            % {"count": len(done)},
        )
    del period
    return _back(request, queue)
