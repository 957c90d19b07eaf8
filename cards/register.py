"""Reads of the real-name register (DESIGN.md section 7, issue 17 report 3): each purchase that
needed a purchase registration, with the buyer, the agent (ID number masked), the contact, the
bank account the money came from, and how long the registration is kept.

Shared by the operators' admin (cards/admin/register.py), the register report
(compliance/reports/register.py) and the purge (cards/services/register.py).

Retention: a registration is kept at least ``REGISTRATION_RETENTION_YEARS`` from the last
purchase made with it (the order's submission; the registration's own date if no order was ever
submitted with it), to the day in Asia/Shanghai. It may go only after that day, and only if no
legal hold covers it or its company.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest

from billing.models import Allocation, Invoice
from cards.models import (
    REGISTRATION_RETENTION_YEARS,
    CardType,
    LegalHold,
    Order,
    OrderLine,
    PurchaseRegistration,
)
from portal import days
from portal.live_data import live_rows


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def retention_until(last_purchase: datetime.datetime) -> datetime.date:
    """The last day a registration must be kept: five years after the purchase's local day."""
    return add_years(days.local(last_purchase).date(), REGISTRATION_RETENTION_YEARS)


def holds_in_force() -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(released_at__isnull=True)


def registrations_kept() -> QuerySet[PurchaseRegistration]:
    """Every registration with ``last_purchase_at`` (what its retention counts from) and
    ``held`` (a legal hold in force on it or on its company)."""
    held = holds_in_force().filter(
        Q(registration=OuterRef("pk")) | Q(company=OuterRef("company_id"))
    )
    return PurchaseRegistration.objects.annotate(
        last_purchase_at=Greatest(
            "created_at", Coalesce(Max("orders__submitted_at"), "created_at")
        ),
        held=Exists(held),
    )


def registration_retention(registration: PurchaseRegistration) -> tuple[datetime.date, bool]:
    """(kept until, held) of one registration, read now."""
    row = registrations_kept().filter(pk=registration.pk).values("last_purchase_at", "held").get()  # type: ignore[misc]
    return retention_until(row["last_purchase_at"]), bool(row["held"])


def purgeable(today: datetime.date | None = None) -> QuerySet[PurchaseRegistration]:
    """Registrations whose retention ended before ``today`` and that no hold covers."""
    today = today or days.today()
    # Kept until D means deletable from D + 1: the last purchase was before D + 1 - 5 years.
    cutoff = days.day_start(add_years(today, -REGISTRATION_RETENTION_YEARS))
    return registrations_kept().filter(last_purchase_at__lt=cutoff, held=False)  # type: ignore[misc]


# --- Register entries: one per purchase ----------------------------------------------------------


@dataclass(frozen=True)
class RegisterEntry:
    purchased_at: datetime.datetime  # the order's submission
    order_number: str
    order_status: str
    card_types: str  # "registered", "bearer" or "registered + bearer" (translated labels)
    face_total: Decimal
    total: Decimal
    company_name: str
    credit_code: str
    agent_name: str
    id_type: str
    id_number_masked: str
    contact_phone: str
    paid_from: str  # "payer · account" of each bank payment, or "" while unpaid
    kept_until: datetime.date


def register_orders(
    *, start: datetime.date | None = None, end: datetime.date | None = None
) -> QuerySet[Order]:
    """Submitted orders that carry a purchase registration, by submission, oldest first."""
    # Real purchases only: a sandbox's test orders are in no register (docs/api.md, "Test mode").
    orders = live_rows(Order.objects.filter(registration__isnull=False, submitted_at__isnull=False))
    if start is not None:
        orders = orders.filter(submitted_at__gte=days.day_start(start))
    if end is not None:
        orders = orders.filter(submitted_at__lt=days.day_end(end))
    return orders.select_related("registration").order_by("submitted_at", "id")


def paid_from(order_numbers: Iterable[str]) -> dict[str, list[str]]:
    """Order number -> the bank payments that paid its invoice or pro-forma ("payer · account"),
    from the allocations that still stand (a reversed allocation and its reversal are left out).
    Company credit applied to an invoice shows as such: its bank payment was kept as credit."""
    numbers = list(order_numbers)
    found: dict[str, list[str]] = {number: [] for number in numbers}
    allocations = (
        Allocation.objects.filter(
            invoice__order_number__in=numbers,
            invoice__kind__in=[Invoice.Kind.INVOICE, Invoice.Kind.PROFORMA],
            kind__in=[Allocation.Kind.INVOICE, Allocation.Kind.CREDIT_USE],
            reverses__isnull=True,
            reversed_by__isnull=True,
        )
        .select_related("payment", "invoice")
        .order_by("created_at", "id")
    )
    for allocation in allocations:
        assert allocation.invoice is not None
        payment = allocation.payment
        if payment is not None:
            text = " · ".join(part for part in (payment.payer_name, payment.payer_account) if part)
        else:
            text = str(Allocation.Kind.CREDIT_USE.label)
        seen = found.setdefault(allocation.invoice.order_number, [])
        if text and text not in seen:
            seen.append(text)
    return found


def _card_types(order_ids: list[int]) -> dict[int, str]:
    types: dict[int, set[str]] = {}
    for order_id, card_type in (
        OrderLine.objects.filter(order_id__in=order_ids)
        .values_list("order_id", "product__card_type")
        .distinct()
    ):
        types.setdefault(order_id, set()).add(card_type)
    return {
        order_id: " + ".join(str(CardType(t).label) for t in sorted(kinds, reverse=True))
        for order_id, kinds in types.items()
    }


def register_entries(orders: QuerySet[Order]) -> list[RegisterEntry]:
    """The register's rows for these orders (``register_orders``), with the masked ID only."""
    rows = list(orders)
    if not rows:
        return []
    payments = paid_from(order.number for order in rows)
    card_types = _card_types([order.pk for order in rows])
    kept = dict(
        registrations_kept()
        .filter(pk__in={order.registration_id for order in rows})
        .values_list("pk", "last_purchase_at")  # type: ignore[misc]
    )
    entries = []
    for order in rows:
        registration = order.registration
        assert registration is not None
        assert order.submitted_at is not None
        entries.append(
            RegisterEntry(
                purchased_at=order.submitted_at,
                order_number=order.number,
                order_status=order.get_status_display(),
                card_types=card_types.get(order.pk, ""),
                face_total=order.face_total,
                total=order.total,
                company_name=registration.company_name,
                credit_code=registration.credit_code,
                agent_name=registration.agent_name,
                id_type=registration.get_id_type_display(),
                id_number_masked=registration.id_number_masked,
                contact_phone=registration.contact_phone,
                paid_from="; ".join(payments.get(order.number, [])),
                kept_until=retention_until(kept[registration.pk]),
            )
        )
    return entries
