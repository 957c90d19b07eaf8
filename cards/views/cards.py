"""Portal pages of issued cards: live generation progress of an order, the card lists of the
company and of one order (filtered by status, serial, order, the order line's cost center and
employee ID, and the day issued or last used), and one card with its transactions, read only.
The reads behind them are in ``cards.selectors`` and ``cards.card_history``, shared with the API
and the template tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cards.card_history import card_by_serial, card_transactions
from cards.models import Batch, CardStatus, Order
from cards.selectors import (
    CardFilters,
    CardPage,
    SerialSearchError,
    card_page,
    cards_of_batches,
    order_progress_data,
    serial_range,
)
from portal import days
from portal.access import company_member_required, company_objects, get_company_object_or_404


@require_GET
@never_cache
@company_member_required
def order_progress(request: HttpRequest, number: str) -> JsonResponse:
    order = get_company_object_or_404(request, Order, number=number)
    return JsonResponse(order_progress_data(order))


# --- Card lists ----------------------------------------------------------------------------------


class CardDate(models.TextChoices):
    """Which date of a card the date filter looks at."""

    ISSUED = "issued", pgettext_lazy("card date", "Issued")
    ACTIVITY = "activity", pgettext_lazy("card date", "Last used")


class CardFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *CardStatus.choices],
    )
    order = forms.CharField(label=gettext_lazy("Order number"), required=False, max_length=32)
    serial = forms.CharField(
        label=gettext_lazy("Serial"),
        required=False,
        max_length=40,
        help_text=gettext_lazy("All 16 digits, or the first digits."),
    )
    cost_center = forms.CharField(label=gettext_lazy("Cost center"), required=False, max_length=64)
    employee_id = forms.CharField(label=gettext_lazy("Employee ID"), required=False, max_length=64)
    date_of = forms.ChoiceField(
        label=gettext_lazy("Date of"), required=False, choices=CardDate.choices
    )
    date_from = forms.DateField(
        label=pgettext_lazy("date range", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=pgettext_lazy("date range", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, with_order: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_order:
            del self.fields["order"]
        self.fields["serial"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})

    def clean_serial(self) -> tuple[int, int] | None:
        try:
            return serial_range(self.cleaned_data.get("serial") or "")
        except SerialSearchError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_order(self) -> str:
        return (self.cleaned_data.get("order") or "").strip().upper()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if first and last and first > last:
            self.add_error(
                "date_to", gettext_lazy("The last day comes before the first; swap them.")
            )
        return cleaned

    def filters(self) -> CardFilters:
        if not self.is_bound or not self.is_valid():
            return CardFilters()
        data = self.cleaned_data
        first, last = data.get("date_from"), data.get("date_to")
        start = days.day_start(first) if first else None
        end = days.day_end(last) if last else None
        by_activity = data.get("date_of") == CardDate.ACTIVITY
        return CardFilters(
            status=data.get("status") or "",
            serial=data.get("serial"),
            cost_center=(data.get("cost_center") or "").strip(),
            employee_id=(data.get("employee_id") or "").strip(),
            issued_from=None if by_activity else start,
            issued_to=None if by_activity else end,
            activity_from=start if by_activity else None,
            activity_to=end if by_activity else None,
        )


def _query_without(request: HttpRequest, names: Iterable[str]) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _render_cards(
    request: HttpRequest, batches: QuerySet[Batch], *, order: Order | None
) -> HttpResponse:
    form = CardFilterForm(request.GET or None, with_order=order is None)
    filters = form.filters()
    order_number = form.cleaned_data.get("order", "") if form.is_bound and form.is_valid() else ""
    shown_batches = batches
    if order_number:
        shown_batches = batches.filter(order__number=order_number)
    invalid = form.is_bound and not form.is_valid()
    page = (
        CardPage(cards=[], has_next=False, has_previous=False)
        if invalid
        else card_page(
            cards_of_batches(shown_batches, filters),
            after=request.GET.get("after"),
            before=request.GET.get("before"),
        )
    )
    filtered = filters.active or bool(order_number)
    # The batches know how many cards they hold: a total without counting a million rows.
    total = None if filtered else shown_batches.aggregate(total=Sum("generated"))["total"] or 0
    return render(
        request,
        "cards/card_list.html",
        {
            "order": order,
            "form": form,
            "page": page,
            "filtered": filtered,
            "total": total,
            "query": _query_without(request, ["after", "before"]),
        },
    )


@company_member_required
def card_list(request: HttpRequest) -> HttpResponse:
    return _render_cards(request, company_objects(request, Batch), order=None)


@company_member_required
def order_cards(request: HttpRequest, number: str) -> HttpResponse:
    order = get_company_object_or_404(request, Order, number=number)
    return _render_cards(request, order.batches.all(), order=order)


# --- One card ------------------------------------------------------------------------------------

TRANSACTIONS_PER_PAGE = 50


@require_GET
@company_member_required
def card_detail(request: HttpRequest, serial: str) -> HttpResponse:
    """One of the company's cards, by serial (never by code), and its transactions: read only."""
    card = card_by_serial(company_objects(request, Batch), serial)
    if card is None:
        raise Http404
    page = Paginator(card_transactions(card), TRANSACTIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "cards/card_detail.html", {"card": card, "page": page})
