"""Merchant settlement: what each merchant is owed for each day, its file, and its payout.

A settlement covers one merchant and one Asia/Shanghai day (``portal.days``): the merchant's
redemptions (captures included: they are ``redeem`` transactions) less its refunds and its
voided redemptions of that day. The nightly task computes the days up to yesterday, catching up
``MERCHANT_SETTLEMENT_CATCH_UP_DAYS``; an open settlement is recomputed, a paid one never.

The payout: an operator records the bank transfer (its reference) once; that posts
merchant payable +net, cash -net (the redemptions had posted card liability +A, merchant
payable -A), with the settlement as the entry's idempotency key. A negative net (more refunds
than sales that day) is money the merchant pays back, and posts the same way round.

The file lists the day's transactions, each card by the last four digits of its serial (never
its code), as CSV (UTF-8 with BOM) or XLSX, through ``portal.exports``.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from billing.models import Account
from billing.money import ZERO, format_cny
from billing.services.ledger import account_get, journal_post
from cards.models import CardTransaction, Merchant, MerchantSettlement
from portal import days
from portal.errors import DomainError, StateConflict
from portal.exports import CsvWriter, XlsxWriter
from portal.models import User, register_audit_actions
from portal.services.audit import audit_record

Kind = CardTransaction.Kind
SETTLED_KINDS = (Kind.REDEEM, Kind.REFUND, Kind.REDEEM_VOID)
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class SettlementAction(models.TextChoices):
    PAID = "merchant.settlement_paid", gettext_lazy("Recorded a merchant settlement's payout")


register_audit_actions(SettlementAction)


def settlement_transactions(merchant: Merchant, day: datetime.date) -> QuerySet[CardTransaction]:
    """The merchant's settled transactions of ``day`` (Asia/Shanghai), oldest first."""
    return CardTransaction.objects.filter(
        merchant=merchant,
        kind__in=SETTLED_KINDS,
        created_at__gte=days.day_start(day),
        created_at__lt=days.day_end(day),
    ).order_by("created_at", "id")


def _sums(merchant: Merchant, day: datetime.date) -> dict[str, Any]:
    # Redemptions are negative card movements; refunds and voided redemptions positive.
    totals = settlement_transactions(merchant, day).aggregate(
        redeemed=Sum("amount", filter=Q(kind=Kind.REDEEM)),
        refunded=Sum("amount", filter=Q(kind=Kind.REFUND)),
        voided=Sum("amount", filter=Q(kind=Kind.REDEEM_VOID)),
        count=Count("id"),
    )
    redeemed = -(totals["redeemed"] or ZERO)
    refunded = totals["refunded"] or ZERO
    voided = totals["voided"] or ZERO
    return {
        "redeemed": redeemed,
        "refunded": refunded,
        "voided": voided,
        "net": redeemed - refunded - voided,
        "transaction_count": totals["count"],
    }


def merchant_settlement_compute(
    *, merchant: Merchant, day: datetime.date
) -> MerchantSettlement | None:
    """Compute (or recompute, while open) the merchant's settlement of ``day``. None when the
    merchant had no settled transaction that day and none exists."""
    if day >= days.today():
        raise DomainError(_("A day is settled once it is over."), code="day_not_over")
    sums = _sums(merchant, day)
    with transaction.atomic():
        settlement = (
            MerchantSettlement.objects.select_for_update()
            .filter(merchant=merchant, day=day)
            .first()
        )
        if settlement is None:
            if not sums["transaction_count"]:
                return None
            settlement, _created = MerchantSettlement.objects.get_or_create(
                merchant=merchant, day=day, defaults=sums
            )
            settlement = MerchantSettlement.objects.select_for_update().get(pk=settlement.pk)
        if settlement.status == MerchantSettlement.Status.PAID:
            return settlement
        for field, value in sums.items():
            setattr(settlement, field, value)
        settlement.computed_at = timezone.now()
        settlement.save(update_fields=[*sums, "computed_at"])
    return settlement


def merchant_settlements_compute(*, day: datetime.date) -> list[MerchantSettlement]:
    """Every merchant's settlement of ``day`` (those with settled transactions that day, and
    those already computed)."""
    merchant_ids = set(
        CardTransaction.objects.filter(
            merchant__isnull=False,
            kind__in=SETTLED_KINDS,
            created_at__gte=days.day_start(day),
            created_at__lt=days.day_end(day),
        )
        .order_by()
        .values_list("merchant_id", flat=True)
        .distinct()
    )
    merchant_ids |= set(
        MerchantSettlement.objects.filter(day=day).values_list("merchant_id", flat=True)
    )
    results = []
    for merchant in Merchant.objects.filter(pk__in=merchant_ids).order_by("pk"):
        settlement = merchant_settlement_compute(merchant=merchant, day=day)
        if settlement is not None:
            results.append(settlement)
    return results


def merchant_settlements_nightly(*, today: datetime.date | None = None) -> int:
    """The nightly run: the days before ``today`` back to the catch-up window. Returns how
    many settlements it computed."""
    today = today or days.today()
    back = max(1, settings.MERCHANT_SETTLEMENT_CATCH_UP_DAYS)
    count = 0
    for offset in range(back, 0, -1):
        count += len(merchant_settlements_compute(day=today - datetime.timedelta(days=offset)))
    return count


@transaction.atomic
def merchant_settlement_record_payout(
    *, settlement: MerchantSettlement, bank_reference: str, actor: User, ip: str | None = None
) -> MerchantSettlement:
    """Record that the settlement was paid (by the bank transfer ``bank_reference``), once:
    merchant payable +net, cash -net."""
    if not (actor.is_active and actor.is_staff):
        raise DomainError(_("Only the issuer's operators record payouts."), code="not_operator")
    bank_reference = (bank_reference or "").strip()
    if not bank_reference:
        raise DomainError({"bank_reference": _("Give the bank transfer's reference.")})
    locked = (
        MerchantSettlement.objects.select_for_update(of=("self",))
        .select_related("merchant", "paid_by")
        .get(pk=settlement.pk)
    )
    if locked.status == MerchantSettlement.Status.PAID:
        raise StateConflict(
            _("This settlement was already paid on %(when)s (reference %(reference)s, by %(who)s).")
            % {
                "when": days.local(locked.paid_at).strftime("%Y-%m-%d %H:%M")
                if locked.paid_at
                else "-",
                "reference": locked.bank_reference,
                "who": locked.paid_by.email if locked.paid_by else "-",
            },
            code="settlement_paid",
        )
    net: Decimal = locked.net
    holder = str(locked.merchant.public_id)
    if net:
        journal_post(
            kind="merchant_settlement_paid",
            idempotency_key=f"merchant_settlement:{locked.public_id}",
            postings=[
                (account_get(Account.Kind.MERCHANT_PAYABLE, holder=holder), net),
                (account_get(Account.Kind.CASH), -net),
            ],
            reference=bank_reference[:64],
            memo=f"settlement {locked.merchant.name} {locked.day:%Y-%m-%d}",
        )
    locked.status = MerchantSettlement.Status.PAID
    locked.paid_at = timezone.now()
    locked.paid_by = actor
    locked.bank_reference = bank_reference[:64]
    locked.save(update_fields=["status", "paid_at", "paid_by", "bank_reference"])
    audit_record(
        action=SettlementAction.PAID,
        actor=actor,
        obj=locked,
        ip=ip,
        changes={
            "merchant": locked.merchant.name,
            "day": locked.day.isoformat(),
            "net": str(net),
            "bank_reference": locked.bank_reference,
        },
    )
    return locked


# --- The file ------------------------------------------------------------------------------------


def settlement_header() -> list[str]:
    return [
        _("Time"),
        _("Type"),
        _("Card (last 4 of serial)"),
        _("Amount (CNY)"),
        _("Your reference"),
        _("Refers to"),
    ]


_WIDTHS = (20, 20, 14, 14, 24, 24)


def settlement_rows(settlement: MerchantSettlement) -> Iterator[list[Any]]:
    """One row per transaction: what it adds to (a redemption) or takes from (a refund, a
    voided redemption) what the merchant is owed. The card only by its serial's last four."""
    rows = (
        settlement_transactions(settlement.merchant, settlement.day)
        .select_related("original")
        .only(
            "created_at",
            "kind",
            "amount",
            "merchant_reference",
            "card__serial",
            "original__merchant_reference",
        )
        .select_related("card")
    )
    labels = dict(Kind.choices)
    for tx in rows.iterator(chunk_size=2000):
        yield [
            days.local(tx.created_at).replace(tzinfo=None),
            str(labels.get(tx.kind, tx.kind)),
            f"···{tx.card.serial % 10000:04d}",
            -tx.amount,
            tx.merchant_reference,
            tx.original.merchant_reference if tx.original is not None else "",
        ]


def settlement_filename(settlement: MerchantSettlement, fmt: str) -> str:
    return f"settlement-{settlement.day:%Y%m%d}-{str(settlement.merchant.public_id)[:8]}.{fmt}"


def settlement_file(settlement: MerchantSettlement, fmt: str) -> bytes:
    """The day's file in memory (a merchant's day is small)."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    buffer = io.BytesIO()
    if fmt == "csv":
        writer = CsvWriter(buffer)
        writer.writerow(settlement_header())
        for row in settlement_rows(settlement):
            at = row[0]
            writer.writerow([f"{at:%Y-%m-%d %H:%M:%S}", *row[1:]])
        writer.close()
    else:
        title = _("Settlement %(day)s") % {"day": f"{settlement.day:%Y-%m-%d}"}
        xlsx = XlsxWriter(buffer, title, settlement_header(), widths=_WIDTHS)
        xlsx.writerows(settlement_rows(settlement))
        xlsx.close()
    return buffer.getvalue()


def settlement_summary(settlement: MerchantSettlement) -> str:
    return ngettext(
        "%(merchant)s, %(day)s: net %(net)s (%(count)s transaction)",
        "%(merchant)s, %(day)s: net %(net)s (%(count)s transactions)",
        settlement.transaction_count,
    ) % {
        "merchant": settlement.merchant.name,
        "day": f"{settlement.day:%Y-%m-%d}",
        "net": format_cny(settlement.net),
        "count": settlement.transaction_count,
    }
