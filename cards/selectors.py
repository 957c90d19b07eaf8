"""Reads of the catalog, of orders and of issued cards that the portal pages, the API, the admin,
template tags and exports share.

Order and card reads take a queryset the caller has already scoped to one company (the portal
through ``portal.access.company_objects``), so a selector can never widen what a buyer sees.

Card lists are paged by serial (keyset), never counted: an order of a million cards lists as fast
as one of ten. Canary cards (never sold, docs/codes.md) are in no list. Card rows are read with
``.only()`` the shown columns, so no digest or ciphertext is ever loaded for a page.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.money import format_cny
from cards import codes
from cards.models import (
    Batch,
    BatchStatus,
    Card,
    CardProduct,
    DeliveryStatus,
    Order,
    OrderLine,
    OrderStatus,
    RecipientDelivery,
)
from cards.services.issuance import batch_progress
from portal.models import AuditEvent, Company, User

ORDER_OBJECT_TYPE = "cards.order"
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
    "last_activity_at",
)


def live_cards() -> QuerySet[Card]:
    """Every real card: test cards (a sandbox's, docs/api.md "Test mode") left out. Reports and
    figures over cards of several companies start here (``portal.live_data``)."""
    return Card.objects.live()


def catalog_products(company: Company | None = None) -> QuerySet[CardProduct]:
    """Products on sale, in catalog order: those offered to every company, plus (given a
    company) those made for it alone. Without a company, only the shared catalog."""
    offered = Q(company__isnull=True)
    if company is not None:
        # A sandbox offers its real company's own products.
        offered |= Q(company_id=company.live_id)
    return CardProduct.objects.filter(offered, active=True).order_by("name", "pk")


@dataclass(frozen=True)
class OrderFilters:
    query: str = ""
    status: str = ""
    created_from: datetime.date | None = None
    created_to: datetime.date | None = None
    creator: str = ""  # the creator's public id


def orders_search(orders: QuerySet[Order], filters: OrderFilters) -> QuerySet[Order]:
    """Orders matching a search (order number, the buyer's reference, a recipient's name) and
    the filters, newest first."""
    result = orders
    query = filters.query.strip()
    if query:
        recipient = OrderLine.objects.filter(order=OuterRef("pk"), recipient_name__icontains=query)
        result = result.filter(
            Q(number__icontains=query) | Q(client_reference__icontains=query) | Q(Exists(recipient))
        )
    if filters.status:
        result = result.filter(status=filters.status)
    if filters.created_from:
        result = result.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        result = result.filter(created_at__date__lte=filters.created_to)
    if filters.creator:
        result = result.filter(created_by__public_id=filters.creator)
    return result.select_related("created_by").order_by("-created_at", "-id")


def order_creators(orders: QuerySet[Order]) -> QuerySet[User]:
    """The people who created any of these orders, for the creator filter."""
    return User.objects.filter(pk__in=orders.values("created_by")).order_by("email")


def orders_awaiting_approval(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Orders waiting for a company approver, oldest first (first come, first decided)."""
    return (
        orders.filter(status=OrderStatus.PENDING_APPROVAL)
        .select_related("created_by")
        .order_by("submitted_at", "id")
    )


def order_history(events: QuerySet[AuditEvent], order: Order) -> QuerySet[AuditEvent]:
    """The audit events about one order, in the order they happened."""
    return events.filter(object_type=ORDER_OBJECT_TYPE, object_id=str(order.public_id)).order_by(
        "created_at", "id"
    )


def delivery_summary(order: Order) -> dict[str, int]:
    """How many of the order's deliveries are in each status."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    for row in (
        RecipientDelivery.objects.filter(order=order)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    ):
        counts[row["status"]] = row["n"]
    return counts


# --- Issued cards ------------------------------------------------------------------------------


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
    """What a card list is narrowed to. Instants bound ``[from, to)``; the order line's cost
    center and employee ID match whole, ignoring case."""

    status: str = ""
    serial: tuple[int, int] | None = None
    cost_center: str = ""
    employee_id: str = ""
    issued_from: datetime.datetime | None = None
    issued_to: datetime.datetime | None = None
    activity_from: datetime.datetime | None = None
    activity_to: datetime.datetime | None = None

    @property
    def active(self) -> bool:
        return any(
            (
                self.status,
                self.serial,
                self.cost_center,
                self.employee_id,
                self.issued_from,
                self.issued_to,
                self.activity_from,
                self.activity_to,
            )
        )


def cards_of_batches(batches: QuerySet[Batch], filters: CardFilters) -> QuerySet[Card]:
    """The cards of these (already company-scoped) batches matching the filters, by serial,
    with only the listed columns loaded."""
    # A batch is one order line: the line's recipient fields narrow the batches, not the cards.
    if filters.cost_center:
        batches = batches.filter(line__cost_center__iexact=filters.cost_center)
    if filters.employee_id:
        batches = batches.filter(line__employee_id__iexact=filters.employee_id)
    blocks = list(batches.order_by().values_list("pk", "first_serial", "quantity"))
    # Canary cards are never shown to a buyer (docs/codes.md).
    cards = Card.objects.filter(batch_id__in=[pk for pk, _first, _count in blocks], is_canary=False)
    if blocks:
        # Each batch holds a gapless block of serials: bounding the serial as well lets the
        # database walk the serial index straight from the first of these cards to the last.
        # A card reissued or exchanged later (rare: found through the reissued_from index)
        # joins its batch with a newer serial, which widens the upper bound.
        # (A subquery of the same statement: its one-row plan runs once, before the walk.)
        highest = int(codes.serial_for(max(first + count - 1 for _pk, first, count in blocks)))
        reissued = (
            Card.objects.filter(
                reissued_from__isnull=False, batch_id__in=[pk for pk, _first, _count in blocks]
            )
            .order_by()
            .annotate(serial_max=Func(F("serial"), function="MAX"))
            .values("serial_max")
        )
        cards = cards.filter(
            serial__gte=int(codes.serial_for(min(first for _pk, first, _count in blocks))),
            serial__lte=Greatest(
                Value(highest),
                Coalesce(Subquery(reissued), Value(highest)),
                output_field=BigIntegerField(),
            ),
        )
    cards = cards.only(*CARD_LIST_FIELDS)
    if filters.status:
        cards = cards.filter(status=filters.status)
    if filters.serial is not None:
        low, high = filters.serial
        cards = cards.filter(serial__gte=low, serial__lte=high)
    if filters.issued_from is not None:
        cards = cards.filter(created_at__gte=filters.issued_from)
    if filters.issued_to is not None:
        cards = cards.filter(created_at__lt=filters.issued_to)
    if filters.activity_from is not None:
        cards = cards.filter(last_activity_at__gte=filters.activity_from)
    if filters.activity_to is not None:
        cards = cards.filter(last_activity_at__lt=filters.activity_to)
    return cards.order_by("serial")


def attach_batches(cards: Sequence[Card]) -> Sequence[Card]:
    """Give each card its batch with the order number and the line (position, recipient,
    employee ID, cost center), in one query for the whole page."""
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
            "line__employee_id",
            "line__cost_center",
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


# --- Live progress of an order's card generation ---------------------------------------------


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
