"""Portal pages of issued cards: live generation progress of an order, and the card lists of the
company and of one order. The reads behind them (card lists paged by serial, the progress of
an order's batches) are in ``cards.selectors``, shared with the API and the template tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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
from portal.access import company_member_required, company_objects, get_company_object_or_404


@require_GET
@never_cache
@company_member_required
def order_progress(request: HttpRequest, number: str) -> JsonResponse:
    order = get_company_object_or_404(request, Order, number=number)
    return JsonResponse(order_progress_data(order))


# --- Card lists ----------------------------------------------------------------------------------


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

    def filters(self) -> CardFilters:
        if not self.is_bound or not self.is_valid():
            return CardFilters()
        return CardFilters(
            status=self.cleaned_data.get("status") or "",
            serial=self.cleaned_data.get("serial"),
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
