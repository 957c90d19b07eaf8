"""The order form as the buyer types (htmx): the face-value field that fits a line's product,
and the live price panel. Both read only: no order, no token, no row is written; the form's
"Calculate price" button does the same without JavaScript."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from cards import selectors
from cards.forms import LINES_PREFIX, MAX_FORM_LINES, LineForm
from cards.services.orders import order_lines_preview
from cards.views.order_form import build_page, credit_for, number_rows
from cards.views.order_price import PriceSummary
from portal.access import active_membership, policy_required
from portal.policy import Action

_ROW = re.compile(rf"{LINES_PREFIX}-(\d{{1,3}})")

# The event the face-value field's swap raises, on which the price panel asks again.
LINE_CHANGED_EVENT = "order-line-changed"


@require_GET
@policy_required(Action.ORDER_CREATE)
def order_face_value(request: HttpRequest) -> HttpResponse:
    """The face-value field of one line (``row``, such as ``lines-0``) for the product chosen,
    keeping the value typed when the product offers it."""
    match = _ROW.fullmatch(request.GET.get("row", ""))
    if match is None or int(match[1]) >= MAX_FORM_LINES:
        return HttpResponseBadRequest()
    company = active_membership(request).company
    products = {str(p.public_id): p for p in selectors.catalog_products(company)}
    form = LineForm(request.GET, prefix=match[0], choices=[], products=products)
    response = render(request, "cards/_face_value_field.html", {"field": form["face_value"]})
    return trigger_client_event(response, LINE_CHANGED_EVENT, after="settle")


@require_POST
@policy_required(Action.ORDER_CREATE)
def order_preview(request: HttpRequest) -> HttpResponse:
    """The price panel for the form as posted, with each line's unit price and amount swapped
    in out of band. Lines not filled in yet are left out and named; lines that break a rule
    are left out of the total and their problems listed."""
    company = active_membership(request).company
    page = build_page(company, None, request.POST)
    page.formset.is_valid()
    rows = number_rows(page.rows) if not page.formset.non_form_errors() else []
    complete = [row for row in rows if row.form.is_valid() and row.form.is_complete]
    priced_rows = {id(row) for row in complete}
    preview = order_lines_preview(
        company=company,
        lines=[(row.number or 0, row.form.line_input()) for row in complete],
    )
    for row in complete:
        row.price = preview.priced.get(row.number or 0)
    summary = PriceSummary(
        checked=preview.checked,
        credit=credit_for(page),
        problems=[*page.formset.non_form_errors(), *preview.problems],
        incomplete=[row.number or 0 for row in rows if id(row) not in priced_rows],
        live=True,
    )
    return render(request, "cards/_order_preview.html", {"summary": summary, "rows": page.rows})
