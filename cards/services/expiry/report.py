"""A breakage decision's own report: the cards it covers, each with its balance and what became
of it, and the totals, as CSV or XLSX (``portal.exports``: formulas neutralised, serials as
text, amounts as numbers). Never a code: serials are public, codes are not."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO
from cards.models import BreakageDecision, BreakageStatus
from portal.exports import CsvWriter, XlsxWriter

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_WIDTHS = (20, 30, 20, 12, 12, 14, 28, 12)
_ROWS_AT_ONCE = 2000
_AMOUNT_COLUMN = 5  # "Balance"


def breakage_report_header() -> list[str]:
    return [
        _("Serial"),
        _("Company"),
        _("Product"),
        _("Face value"),
        _("Expired on"),
        _("Balance"),
        _("Breakage"),
        _("Reversed on"),
    ]


def _row_state(decision: BreakageDecision, live: bool, reversed_at: Any) -> str:
    if reversed_at is not None:
        return _("Reversed: the card came back")
    if decision.status == BreakageStatus.POSTED and live:
        return _("Recognised as income")
    if decision.status == BreakageStatus.PROPOSED:
        return _("Proposed")
    if decision.status == BreakageStatus.REVERSED:
        return _("Reversed with the decision")
    return _("Not recognised (rejected)")


def breakage_report_rows(decision: BreakageDecision) -> Iterator[list[Any]]:
    covered = (
        decision.covered.order_by("card__serial")
        .values_list(
            "card__serial",
            "card__batch__company__legal_name",
            "card__batch__product__name",
            "card__face_value",
            "card__expires_at",
            "amount",
            "live",
            "reversed_at",
        )
        .iterator(chunk_size=_ROWS_AT_ONCE)
    )
    for serial, company, product, face, expired, amount, live, reversed_at in covered:
        yield [
            f"{serial:016d}",
            company,
            product,
            face,
            timezone.localtime(expired).date() if expired else None,
            amount,
            _row_state(decision, live, reversed_at),
            timezone.localtime(reversed_at).date() if reversed_at else None,
        ]


def breakage_report_totals(decision: BreakageDecision) -> dict[str, Any]:
    """The decision's cards and total, and what is still recognised (posted, not reversed)."""
    sums = decision.covered.aggregate(
        count=Count("pk"),
        total=Sum("amount"),
        came_back=Count("pk", filter=Q(reversed_at__isnull=False)),
        came_back_total=Sum("amount", filter=Q(reversed_at__isnull=False)),
    )
    recognised: Decimal = ZERO
    if decision.status == BreakageStatus.POSTED:
        recognised = (sums["total"] or ZERO) - (sums["came_back_total"] or ZERO)
    return {
        "count": sums["count"],
        "total": sums["total"] or ZERO,
        "came_back": sums["came_back"],
        "came_back_total": sums["came_back_total"] or ZERO,
        "recognised": recognised,
    }


def breakage_report_write(decision: BreakageDecision, fmt: str, binary: IO[bytes]) -> None:
    """Write the report in ``fmt`` (``csv`` or ``xlsx``) to ``binary``: the cards, then a total
    row (cards, total covered) and the amount still recognised as income."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    header = breakage_report_header()
    totals = breakage_report_totals(decision)
    writer: CsvWriter | XlsxWriter
    if fmt == "csv":
        writer = CsvWriter(binary)
        writer.writerow(header)
    else:
        writer = XlsxWriter(binary, _("Breakage"), header, widths=_WIDTHS)
    writer.writerows(breakage_report_rows(decision))
    for label, amount in (
        (_("Total: %(count)s cards") % {"count": totals["count"]}, totals["total"]),
        (_("Still recognised as income"), totals["recognised"]),
    ):
        row: list[Any] = [""] * len(header)
        row[0], row[_AMOUNT_COLUMN] = label, amount
        writer.writerow(row)
    writer.close()
