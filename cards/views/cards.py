"""Portal pages of issued cards: live generation progress of an order, and the card lists of the
company and of one order.

Lists are paged by serial (keyset), never counted: an order of a million cards lists as fast as
one of ten. Card rows are read with ``.only()`` the shown columns, so no digest or ciphertext is
ever loaded for a page. The reads here (``card_rows``, ``CardFilters``...) are shared with the
API (``cards.api.cards``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from billing.money import format_cny
from cards import codes
from cards.models import Batch, BatchStatus, Card, CardStatus, Order, OrderStatus
from cards.services.issuance import batch_progress
from portal.access import company_member_required, company_objects, get_company_object_or_404

CARDS_PER_PAGE = 50
SERIAL_DIGITS = 16
# The card columns a list shows; nothing secret is among them.
CARD_LIST_FIELDS = (
    "id",
    "serial",
    "batch_id",
    "last4",
    "face_value",
    "balance",
    "status",
    "expires_at",
)


# --- Reads shared with the API -------------------------------------------------------------------


class SerialSearchError(ValueError):
    """The serial searched for is not (the start of) a card number."""


def serial_range(typed: str) -> tuple[int, int] | None:
    """The serials that start with what was typed (spaces and hyphens ignored), as an inclusive
    range; a full 16-digit serial is an exact match. None when nothing was typed."""
    digits = typed.replace(" ", "").replace("-", "").replace("\u3000", "")
    if not digits:
        return None
    if not digits.isdigit() or not digits.isascii() or len(digits) > SERIAL_DIGITS:
        raise SerialSearchError(
            _(
                "“%(value)s” is not a card serial: type its 16 digits, or its first digits to "
                "find every card that starts with them."
            )
            % {"value": typed.strip()}
        )
    scale = 10 ** (SERIAL_DIGITS - len(digits))
    low = int(digits) * scale
    return low, low + scale - 1


@dataclass(frozen=True)
class CardFilters:
    status: str = ""
    serial: tuple[int, int] | None = None

    @property
    def active(self) -> bool:
        return bool(self.status or self.serial)


def cards_of_batches(batches: QuerySet[Batch], filters: CardFilters) -> QuerySet[Card]:
    """The cards of these (already company-scoped) batches matching the filters, by serial,
    with only the listed columns loaded."""
    blocks = list(batches.order_by().values_list("pk", "first_serial", "quantity"))
    cards = Card.objects.filter(batch_id__in=[pk for pk, _first, _count in blocks])
    if blocks:
        # Each batch holds a gapless block of serials: bounding the serial as well lets the
        # database walk the serial index straight from the first of these cards to the last.
        cards = cards.filter(
            serial__gte=int(codes.serial_for(min(first for _pk, first, _count in blocks))),
            serial__lte=int(
                codes.serial_for(max(first + count - 1 for _pk, first, count in blocks))
            ),
        )
    cards = cards.only(*CARD_LIST_FIELDS)
    if filters.status:
        cards = cards.filter(status=filters.status)
    if filters.serial is not None:
        low, high = filters.serial
        cards = cards.filter(serial__gte=low, serial__lte=high)
    return cards.order_by("serial")


def attach_batches(cards: Sequence[Card]) -> Sequence[Card]:
    """Give each card its batch with the order number and the line (position, recipient), in
    one query for the whole page."""
    wanted = {card.batch_id for card in cards}
    batches = {
        batch.pk: batch
        for batch in Batch.objects.filter(pk__in=wanted)
        .select_related("order", "line")
        .only(
            "id",
            "order__id",
            "order__number",
            "line__id",
            "line__position",
            "line__recipient_name",
        )
    }
    for card in cards:
        card.batch = batches[card.batch_id]
    return cards


@dataclass
class CardPage:
    """One page of a keyset-paged card list."""

    cards: Sequence[Card]
    has_next: bool
    has_previous: bool

    @property
    def next_after(self) -> str:
        return str(self.cards[-1].serial) if self.cards else ""

    @property
    def previous_before(self) -> str:
        return str(self.cards[0].serial) if self.cards else ""


def _cursor(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and raw.isascii() and len(raw) <= SERIAL_DIGITS else None


def card_page(cards: QuerySet[Card], *, after: str | None, before: str | None) -> CardPage:
    """The page after (or before) a serial, one row more than shown to know whether there is
    another page. Never counts the rows."""
    after_serial, before_serial = _cursor(after), _cursor(before)
    if before_serial is not None and after_serial is None:
        rows = list(
            cards.filter(serial__lt=before_serial).order_by("-serial")[: CARDS_PER_PAGE + 1]
        )
        more = len(rows) > CARDS_PER_PAGE
        shown = list(reversed(rows[:CARDS_PER_PAGE]))
        return CardPage(cards=attach_batches(shown), has_next=True, has_previous=more)
    if after_serial is not None:
        cards = cards.filter(serial__gt=after_serial)
    rows = list(cards.order_by("serial")[: CARDS_PER_PAGE + 1])
    return CardPage(
        cards=attach_batches(rows[:CARDS_PER_PAGE]),
        has_next=len(rows) > CARDS_PER_PAGE,
        has_previous=after_serial is not None,
    )


# --- Live progress -------------------------------------------------------------------------------


def _eta_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return _("less than a minute left")
    minutes = round(seconds / 60)
    if minutes < 60:
        return ngettext("about %(n)s minute left", "about %(n)s minutes left", minutes) % {
            "n": minutes
        }
    hours, minutes = divmod(minutes, 60)
    return _("about %(hours)s h %(minutes)s min left") % {"hours": hours, "minutes": minutes}


def _failure_text(batch: Batch, order: Order) -> str:
    if batch.status != BatchStatus.FAILED:
        return ""
    return _(
        "Generating these cards stopped: %(reason)s Contact support and quote order %(number)s, "
        "line %(line)s; no card of this line can be used until it is finished."
    ) % {
        "reason": batch.failure_reason or _("no reason was recorded."),
        "number": order.number,
        "line": batch.line.position,
    }


def order_progress_rows(order: Order) -> list[dict[str, Any]]:
    """Each batch's progress (``batch_progress``) with its line, product and face value, and
    the figures written out in the reader's language."""
    rows = []
    batches = order.batches.select_related("line", "product").order_by("line__position")
    for batch in batches:
        progress = batch_progress(batch)
        rate = int(progress["rate_per_s"])  # type: ignore[call-overload]
        done = batch.status == BatchStatus.READY
        progress.update(
            {
                "product": batch.product.display_name,
                "face_value": f"{batch.face_value:.2f}",
                "face_value_display": format_cny(batch.face_value),
                "status_label": batch.get_status_display(),
                "counts_text": _("%(generated)s of %(quantity)s cards")
                % {
                    "generated": number_format(batch.generated, force_grouping=True),
                    "quantity": number_format(batch.quantity, force_grouping=True),
                },
                "percent_text": f"{progress['percent']}%",
                "rate_text": (
                    _("%(rate)s cards/s") % {"rate": number_format(rate, force_grouping=True)}
                    if rate and not done
                    else ""
                ),
                "eta_text": "" if done else _eta_text(progress["eta_seconds"]),  # type: ignore[arg-type]
                "failure_text": _failure_text(batch, order),
            }
        )
        rows.append(progress)
    return rows


def order_progress_data(order: Order) -> dict[str, Any]:
    batches = order_progress_rows(order)
    return {
        "order": order.number,
        "status": order.status,
        "status_label": order.get_status_display(),
        "fulfilling": order.status == OrderStatus.FULFILLING,
        "generated": sum(int(b["generated"]) for b in batches),
        "quantity": sum(int(b["quantity"]) for b in batches),
        "batches": batches,
    }


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
