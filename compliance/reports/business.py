"""Report 2, the quarterly business report for the commerce authority: cards sold (count and
face value, bearer and registered, by face value band), redeemed, refunded, expired, reactivated,
the outstanding balance at quarter end, the number of buyer companies and the largest buyers.

Everything is read from the card rows, the card transactions and the ledger, never typed:

- sold: cards issued in the quarter (``Card.created_at``), not canaries and not replacements of
  lost cards (a reissue moves a balance, it sells nothing); bearer or registered by the product.
- redeemed: merchant redemptions (``redeem``); merchant refunds and voided redemptions
  (``refund``, ``redeem_void``) give value back to cards; net redeemed is the difference.
- refunded: unused cards refunded to their buyer (voids under the ``buyer_refund:`` key).
- expired / reactivated: ``expire`` and ``reactivate`` card transactions, valued at the balance
  they move to or from the expired-balance liability.
- outstanding at quarter end: the ledger's card liability, expired-balance liability and cards
  sold not yet issued, summed from postings before the day after the quarter's last day.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from billing.models import Account, Posting
from billing.money import ZERO, format_cny
from cards.models import Card, CardTransaction, CardType
from cards.services.card_service.refunds import REFUND_KEY
from compliance.content import Figure, Period, ReportContent, ReportKind, ReportTable
from portal import days

# Face value bands (upper bound included): the bearer cap is 1,000, the registered cap 5,000.
FACE_VALUE_BANDS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("0.00"), Decimal("100.00")),
    (Decimal("100.00"), Decimal("500.00")),
    (Decimal("500.00"), Decimal("1000.00")),
    (Decimal("1000.00"), Decimal("5000.00")),
)
LARGEST_BUYERS = 10

TX = CardTransaction.Kind


def band_label(low: Decimal, high: Decimal) -> str:
    return f"{format_cny(low)} < x ≤ {format_cny(high)}" if low else f"≤ {format_cny(high)}"


def cards_sold(period: Period) -> QuerySet[Card]:
    start, end = days.days_bounds(period.start, period.end)
    # Live cards only: a sandbox's test cards are no sale (compliance.scope).
    return Card.objects.live().filter(
        created_at__gte=start,
        created_at__lt=end,
        is_canary=False,
        reissued_from__isnull=True,
    )


def _movements(period: Period) -> dict[str, tuple[int, Decimal]]:
    """Card transaction kind (and "buyer_refund") -> (count, value as a positive amount)."""
    start, end = days.days_bounds(period.start, period.end)
    rows = CardTransaction.objects.filter(created_at__gte=start, created_at__lt=end)
    found: dict[str, tuple[int, Decimal]] = {}
    refunds = Q(kind=TX.VOID, idempotency_key__startswith=REFUND_KEY)
    # Expiry and reactivation move no balance on the card (amount 0): the balance they move
    # between the card and the expired-balance liability is the card's balance, ``balance_after``.
    for key, condition, column in (
        (TX.REDEEM, Q(kind=TX.REDEEM), "amount"),
        (TX.REFUND, Q(kind=TX.REFUND), "amount"),
        (TX.REDEEM_VOID, Q(kind=TX.REDEEM_VOID), "amount"),
        (TX.EXPIRE, Q(kind=TX.EXPIRE), "balance_after"),
        (TX.REACTIVATE, Q(kind=TX.REACTIVATE), "balance_after"),
        ("buyer_refund", refunds, "amount"),
    ):
        stats = rows.filter(condition).aggregate(count=Count("id"), value=Sum(column))
        found[key] = (stats["count"], abs(stats["value"] or ZERO))
    return found


def ledger_owed(kind: str, period: Period) -> Decimal:
    """What a liability account owes at the end of the period's last day (minus its balance)."""
    end = days.day_end(period.end)
    total = Posting.objects.filter(account__kind=kind, entry__created_at__lt=end).aggregate(
        total=Sum("amount")
    )["total"]
    return -(total or ZERO)


def compute(period: Period) -> ReportContent:
    sold = cards_sold(period)
    by_type = {
        card_type: (count, value or ZERO)
        for card_type, count, value in sold.values("batch__product__card_type")
        .annotate(count=Count("id"), value=Sum("face_value"))
        .values_list("batch__product__card_type", "count", "value")
    }
    by_band: dict[int, list[Decimal | int]] = defaultdict(lambda: [0, ZERO])
    for face_value, count, value in (
        sold.values("face_value")
        .annotate(count=Count("id"), value=Sum("face_value"))
        .values_list("face_value", "count", "value")
    ):
        index = next(
            (i for i, (_low, high) in enumerate(FACE_VALUE_BANDS) if face_value <= high),
            len(FACE_VALUE_BANDS) - 1,
        )
        by_band[index][0] += count
        by_band[index][1] += value
    buyers = list(
        sold.values("batch__company_id")
        .annotate(count=Count("id"), value=Sum("face_value"))
        .order_by("-value", "batch__company__legal_name")
        .values_list("batch__company__legal_name", "batch__company__credit_code", "count", "value")
    )
    sold_count = sum(count for count, _value in by_type.values())
    sold_value = sum((value for _count, value in by_type.values()), ZERO)
    moves = _movements(period)
    redeemed = moves[TX.REDEEM]
    returned_value = moves[TX.REFUND][1] + moves[TX.REDEEM_VOID][1]
    card_owed = ledger_owed(Account.Kind.CARD_LIABILITY, period)
    expired_owed = ledger_owed(Account.Kind.EXPIRED_LIABILITY, period)
    unissued_owed = ledger_owed(Account.Kind.CARDS_TO_ISSUE, period)

    def sold_of(card_type: str) -> tuple[int, Decimal]:
        return by_type.get(card_type, (0, ZERO))

    figures = (
        Figure("cards_sold", _("Cards sold"), sold_count),
        Figure("cards_sold_value", _("Cards sold: face value"), sold_value),
        Figure("bearer_sold", _("Bearer cards sold"), sold_of(CardType.BEARER)[0]),
        Figure(
            "bearer_sold_value", _("Bearer cards sold: face value"), sold_of(CardType.BEARER)[1]
        ),
        Figure("registered_sold", _("Registered cards sold"), sold_of(CardType.REGISTERED)[0]),
        Figure(
            "registered_sold_value",
            _("Registered cards sold: face value"),
            sold_of(CardType.REGISTERED)[1],
        ),
        Figure("redemptions", _("Redemptions"), redeemed[0]),
        Figure("redeemed_value", _("Redeemed"), redeemed[1]),
        Figure(
            "returned_to_cards",
            _("Merchant refunds and voided redemptions (back on cards)"),
            returned_value,
        ),
        Figure("redeemed_net", _("Redeemed, net"), redeemed[1] - returned_value),
        Figure("cards_refunded", _("Cards refunded to buyers"), moves["buyer_refund"][0]),
        Figure("refunded_value", _("Refunded to buyers"), moves["buyer_refund"][1]),
        Figure("cards_expired", _("Cards expired"), moves[TX.EXPIRE][0]),
        Figure("expired_value", _("Balance expired"), moves[TX.EXPIRE][1]),
        Figure("cards_reactivated", _("Cards reactivated"), moves[TX.REACTIVATE][0]),
        Figure("reactivated_value", _("Balance reactivated"), moves[TX.REACTIVATE][1]),
        Figure("card_liability", _("Card balances outstanding at quarter end"), card_owed),
        Figure(
            "expired_liability", _("Expired card balances still owed at quarter end"), expired_owed
        ),
        Figure("cards_to_issue", _("Sold, cards not yet issued, at quarter end"), unissued_owed),
        Figure(
            "outstanding_balance",
            _("Outstanding prepaid balance at quarter end"),
            card_owed + expired_owed + unissued_owed,
        ),
        Figure("buyer_companies", _("Buyer companies"), len(buyers)),
    )
    type_rows = [(str(label), *sold_of(value)) for value, label in CardType.choices]
    band_rows = [
        (band_label(low, high), by_band[i][0], by_band[i][1])
        for i, (low, high) in enumerate(FACE_VALUE_BANDS)
    ]
    buyer_rows = [
        (
            rank,
            name,
            code,
            count,
            value,
            (value / sold_value * 100).quantize(Decimal("0.1")) if sold_value else Decimal("0.0"),
        )
        for rank, (name, code, count, value) in enumerate(buyers[:LARGEST_BUYERS], start=1)
    ]
    return ReportContent(
        figures=figures,
        tables=(
            ReportTable(
                "sold_by_type",
                _("Cards sold by type"),
                (_("card type"), _("cards"), _("face value")),
                type_rows,
            ),
            ReportTable(
                "sold_by_face_value_band",
                _("Cards sold by face value band"),
                (_("face value band"), _("cards"), _("face value")),
                band_rows,
            ),
            ReportTable(
                "largest_buyers",
                _("Largest buyers"),
                (
                    _("rank"),
                    _("company"),
                    _("unified social credit code"),
                    _("cards"),
                    _("face value"),
                    _("share (%)"),
                ),
                buyer_rows,
            ),
        ),
        notes=(
            _(
                "Sold: cards issued in the quarter, at face value; replacements of lost cards "
                "and canary cards are not sales. Outstanding: the ledger at the end of the "
                "quarter's last day (Asia/Shanghai)."
            ),
            _("Due to the commerce authority within 20 working days after the quarter ends."),
        ),
    )


KIND = ReportKind(
    key="business", title=_("Quarterly business report"), period="quarter", compute=compute
)
