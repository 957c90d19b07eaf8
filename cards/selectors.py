"""Reads of the catalog and of orders that the portal pages, the API and exports share.

Order reads take a queryset the caller has already scoped to one company (the portal through
``portal.access.company_objects``), so a selector can never widen what a buyer sees.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from cards.models import CardProduct, Order, OrderLine, OrderStatus
from portal.models import AuditEvent, Company, User

ORDER_OBJECT_TYPE = "cards.order"


def catalog_products(company: Company | None = None) -> QuerySet[CardProduct]:
    """Products on sale, in catalog order: those offered to every company, plus (given a
    company) those made for it alone. Without a company, only the shared catalog."""
    offered = Q(company__isnull=True)
    if company is not None:
        offered |= Q(company=company)
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
