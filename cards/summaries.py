"""Reads that summarise a company's orders, order files, issuance and card spend: what waits for
someone, what happened lately, how much was spent, issued and redeemed by month (the dashboard's
reads).

Like ``cards.selectors``, each read takes a queryset the caller has already scoped to one
company (``portal.access.company_objects``).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from cards.models import (
    Batch,
    BatchStatus,
    CardTransaction,
    CodeDownload,
    DeliveryMethod,
    Order,
    OrderStatus,
    OrderUpload,
    UploadStatus,
)
from cards.services.code_allowance import DOWNLOADABLE_STATUSES
from portal import days

# Order statuses counted together.
ORDERS_IN_PROGRESS = (
    OrderStatus.PENDING_REVIEW,
    OrderStatus.AWAITING_PAYMENT,
    OrderStatus.FUNDED,
    OrderStatus.FULFILLING,
)
ORDERS_DONE = (OrderStatus.FULFILLED, OrderStatus.DELIVERED)
# Order files neither turned into an order nor given up.
UPLOADS_IN_PROGRESS = (
    UploadStatus.RECEIVED,
    UploadStatus.CHECKING,
    UploadStatus.VALID,
    UploadStatus.INVALID,
)


def orders_codes_ready(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Orders delivered as a file whose cards are all ready and whose codes nobody has
    downloaded yet, the longest waiting first."""
    downloaded = CodeDownload.objects.filter(order=OuterRef("pk"))
    return (
        orders.filter(delivery_method=DeliveryMethod.FILE, status__in=DOWNLOADABLE_STATUSES)
        .exclude(Exists(downloaded))
        .order_by("funded_at", "id")
    )


def orders_recent(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Submitted orders (drafts aside), the newest first."""
    return (
        orders.exclude(status=OrderStatus.DRAFT)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def orders_drafts(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Drafts, the last edited first."""
    return orders.filter(status=OrderStatus.DRAFT).order_by("-updated_at", "-id")


def order_counts(orders: QuerySet[Order]) -> dict[str, int]:
    """How many orders are drafts, wait for approval, are on their way, are done (one query)."""
    return orders.aggregate(
        drafts=Count("pk", filter=Q(status=OrderStatus.DRAFT)),
        waiting=Count("pk", filter=Q(status=OrderStatus.PENDING_APPROVAL)),
        in_progress=Count("pk", filter=Q(status__in=ORDERS_IN_PROGRESS)),
        done=Count("pk", filter=Q(status__in=ORDERS_DONE)),
    )


def uploads_in_progress(uploads: QuerySet[OrderUpload]) -> QuerySet[OrderUpload]:
    """Order files being checked, waiting for a confirmation, or with errors to fix; the
    newest first."""
    return (
        uploads.filter(status__in=UPLOADS_IN_PROGRESS)
        .defer("result")
        .order_by("-created_at", "-id")
    )


def spend_by_month(
    orders: QuerySet[Order], *, since: datetime.date
) -> dict[datetime.date, Decimal]:
    """The price of the orders funded in each month from ``since`` on (Asia/Shanghai months),
    orders cancelled after funding aside: ``{first day of the month: total}``."""
    rows = (
        orders.filter(funded_at__gte=days.day_start(since))
        .exclude(status=OrderStatus.CANCELLED)
        .annotate(month=TruncMonth("funded_at", tzinfo=days.zone()))
        .order_by()
        .values("month")
        .annotate(total=Sum("total"))
    )
    return {_month_of(row["month"]): row["total"] for row in rows}


def cards_issued_by_month(
    batches: QuerySet[Batch], *, since: datetime.date
) -> dict[datetime.date, int]:
    """How many cards were issued in each month from ``since`` on, counted by the month their
    batch finished."""
    rows = (
        batches.filter(status=BatchStatus.READY, finished_at__gte=days.day_start(since))
        .annotate(month=TruncMonth("finished_at", tzinfo=days.zone()))
        .order_by()
        .values("month")
        .annotate(issued=Sum("generated"))
    )
    return {_month_of(row["month"]): row["issued"] for row in rows}


def redemptions_by_month(
    batches: QuerySet[Batch], *, since: datetime.date
) -> dict[datetime.date, tuple[Decimal, int]]:
    """The value and number of redemptions (purchases at merchants) of these batches' cards in
    each month from ``since`` on (Asia/Shanghai months): ``{first day: (value, count)}``.
    Refunds and voided redemptions are their own movements and are not deducted here."""
    rows = (
        CardTransaction.objects.filter(
            kind=CardTransaction.Kind.REDEEM,
            created_at__gte=days.day_start(since),
            card__batch__in=batches.order_by().values("pk"),
            card__is_canary=False,
        )
        .annotate(month=TruncMonth("created_at", tzinfo=days.zone()))
        .order_by()
        .values("month")
        .annotate(spent=Sum("amount"), count=Count("pk"))
    )
    return {_month_of(row["month"]): (-row["spent"], row["count"]) for row in rows}


def _month_of(value: datetime.date | datetime.datetime) -> datetime.date:
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = days.local(value)
        return value.date().replace(day=1)
    return value.replace(day=1)
