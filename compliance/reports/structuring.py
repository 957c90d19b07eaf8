"""Report 4, split purchases and structuring: the periodic view, over every company, of what the
order rules flag one order at a time (``cards.services.workflow.approval.order_risk_flags``).

- Split purchases: a company's orders on one Asia/Shanghai day, each between
  ``COMPLIANCE_STRUCTURING_BAND_FLOOR`` and just under the 10,000 CNY registration threshold,
  at least ``ORDER_STRUCTURING_COUNT`` of them (the order rules' count).
- Bearer purchases just under the registration threshold: orders of bearer cards only, without a
  registration, within ``ORDER_STRUCTURING_MARGIN`` below the threshold (the order rules'
  margin), each listed, and summed by company.

An order's value is the larger of its face value total and its price, as the registration rule
reads it (``cards.services.orders.registration.registration_required``). Every submitted order
counts, whatever became of it: a rejected attempt is part of the pattern.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.db.models.functions import Greatest
from django.utils.translation import gettext_lazy as _

from billing.money import ZERO
from cards.models import REGISTRATION_ORDER_THRESHOLD, CardType, Order, OrderLine
from compliance.content import Figure, Period, ReportContent, ReportKind, ReportTable
from compliance.scope import live_rows
from portal import days


@dataclass(frozen=True)
class Candidate:
    day: datetime.date
    company_id: int
    company_name: str
    credit_code: str
    number: str
    value: Decimal
    flagged: bool


def _candidates(period: Period, low: Decimal, *, bearer_only: bool) -> list[Candidate]:
    start, end = days.days_bounds(period.start, period.end)
    orders = live_rows(
        Order.objects.filter(submitted_at__gte=start, submitted_at__lt=end)
    ).annotate(value=Greatest("face_total", "total"))
    orders = orders.filter(value__gte=low, value__lt=REGISTRATION_ORDER_THRESHOLD)
    if bearer_only:
        registered = OrderLine.objects.filter(
            order=OuterRef("pk"), product__card_type=CardType.REGISTERED
        )
        orders = orders.filter(registration__isnull=True).exclude(Exists(registered))
    rows = orders.order_by("submitted_at", "id").values_list(
        "submitted_at",
        "company_id",
        "company__legal_name",
        "company__credit_code",
        "number",
        "value",
        "risk_flags",
    )
    return [
        Candidate(
            day=days.local(submitted).date(),
            company_id=company_id,
            company_name=name,
            credit_code=code,
            number=number,
            value=value,
            flagged="structuring" in (flags or []),
        )
        for submitted, company_id, name, code, number, value, flags in rows
        if submitted is not None
    ]


def split_purchases(period: Period) -> list[list[Candidate]]:
    """Each company-day with enough orders in the band, by day then company."""
    groups: dict[tuple[datetime.date, int], list[Candidate]] = defaultdict(list)
    for candidate in _candidates(
        period, settings.COMPLIANCE_STRUCTURING_BAND_FLOOR, bearer_only=False
    ):
        groups[(candidate.day, candidate.company_id)].append(candidate)
    return [
        group
        for _key, group in sorted(
            groups.items(), key=lambda item: (item[0][0], item[1][0].company_name)
        )
        if len(group) >= settings.ORDER_STRUCTURING_COUNT
    ]


def bearer_just_under(period: Period) -> list[Candidate]:
    low = REGISTRATION_ORDER_THRESHOLD * (1 - settings.ORDER_STRUCTURING_MARGIN)
    return _candidates(period, low, bearer_only=True)


def compute(period: Period) -> ReportContent:
    split = split_purchases(period)
    bearer = bearer_just_under(period)
    split_rows = [
        (
            group[0].day,
            group[0].company_name,
            group[0].credit_code,
            len(group),
            sum((c.value for c in group), ZERO),
            ", ".join(c.number for c in group),
            sum(1 for c in group if c.flagged),
        )
        for group in split
    ]
    by_company: dict[int, list[Candidate]] = defaultdict(list)
    for candidate in bearer:
        by_company[candidate.company_id].append(candidate)
    company_rows = sorted(
        (
            (
                orders[0].company_name,
                orders[0].credit_code,
                len(orders),
                len({c.day for c in orders}),
                sum((c.value for c in orders), ZERO),
            )
            for orders in by_company.values()
        ),
        key=lambda row: (-row[2], row[0]),
    )
    bearer_rows = [
        (c.day, c.company_name, c.credit_code, c.number, c.value, _("yes") if c.flagged else "")
        for c in bearer
    ]
    return ReportContent(
        figures=(
            Figure(
                "split_company_days",
                _("Days on which a company split its purchases"),
                len(split),
            ),
            Figure(
                "split_companies",
                _("Companies that split purchases"),
                len({group[0].company_id for group in split}),
            ),
            Figure(
                "split_orders",
                _("Orders in split purchases"),
                sum(len(group) for group in split),
            ),
            Figure(
                "bearer_just_under_orders",
                _("Bearer orders just under the registration threshold"),
                len(bearer),
            ),
            Figure(
                "bearer_just_under_companies",
                _("Companies with bearer orders just under the registration threshold"),
                len(by_company),
            ),
            Figure(
                "band_floor",
                _("Split-purchase band: from"),
                str(settings.COMPLIANCE_STRUCTURING_BAND_FLOOR),
            ),
        ),
        tables=(
            ReportTable(
                "split_purchases",
                _("Several orders in one day just under 10,000 CNY"),
                (
                    _("day"),
                    _("company"),
                    _("unified social credit code"),
                    _("orders"),
                    _("combined value"),
                    _("order numbers"),
                    _("flagged at order time"),
                ),
                split_rows,
            ),
            ReportTable(
                "bearer_by_company",
                _("Bearer orders just under the registration threshold, by company"),
                (
                    _("company"),
                    _("unified social credit code"),
                    _("orders"),
                    _("days"),
                    _("combined value"),
                ),
                company_rows,
            ),
            ReportTable(
                "bearer_orders",
                _("Bearer orders just under the registration threshold"),
                (
                    _("day"),
                    _("company"),
                    _("unified social credit code"),
                    _("order"),
                    _("value"),
                    _("flagged at order time"),
                ),
                bearer_rows,
            ),
        ),
        notes=(
            _(
                "Rule: a purchase of 10,000 CNY or more needs a real-name registration; orders "
                "kept just under it, several in a day or repeatedly, may be split to avoid it."
            ),
            _(
                "An order's value is the larger of its face value total and its price. Every "
                "submitted order counts, including rejected and cancelled ones."
            ),
        ),
    )


KIND = ReportKind(
    key="structuring",
    title=_("Split purchases and structuring"),
    period="month",
    compute=compute,
)
