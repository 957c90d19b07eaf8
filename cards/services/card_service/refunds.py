"""Refund to the buyer: an order's unused cards are voided and credited back to the company.

Unused means untouched: active, the whole face value still on the card, no hold and no
transaction at all (so never a reissued card), and not a canary (never delivered, never sold).
Each refunded card is voided with the idempotency key ``buyer_refund:<card id>``, which the
database keeps unique: a card is refunded once, whatever runs at the same time.

What the company gets back is what it paid for those cards: the order line's amount, shared
out by card so that refunding every card of a line gives back exactly the line's amount. The
credit is a credit note against the order's invoice (``billing.services.credit_notes``): it
settles what the invoice still has due, and the rest (an invoice already paid) becomes company
credit. Ledger: card liability +F, voided cards -F (the voids), then voided cards +F,
receivable or company credit -X, and the discount or fee difference (the credit note).

Locks, in the global order of money: the order, the cards (by id), then billing's (company
accounts, the invoice, the credit note's number last).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing import line_text, locks
from billing.models import Account, Invoice
from billing.money import ZERO, format_cny, quantize
from billing.services.credit_notes import invoice_credit_part
from billing.services.invoices import InvoiceLineData
from billing.services.ledger import account_get, journal_post
from cards.models import Batch, Card, CardStatus, CardTransaction, Order, OrderStatus
from portal.errors import DomainError, StateConflict
from portal.models import User
from portal.services.audit import audit_record

from .base import CardServiceAction, require_operator, require_reason, void_locked_card

REFUND_KEY = "buyer_refund:"
REFUNDABLE_ORDER_STATUSES = (OrderStatus.FULFILLED, OrderStatus.DELIVERED)


@dataclass(frozen=True)
class RefundOutcome:
    credit_note: Invoice
    cards: list[Card]
    face_total: Decimal
    amount: Decimal


def unused_cards(order: Order) -> QuerySet[Card]:
    """The order's cards that can be refunded (read without locks; the service checks again
    under them), by serial."""
    moved = CardTransaction.objects.filter(card=OuterRef("pk"))
    return (
        Card.objects.filter(
            batch__order=order,
            status=CardStatus.ACTIVE,
            balance=F("face_value"),
            held=ZERO,
            reissued_from__isnull=True,
            is_canary=False,
        )
        .exclude(Exists(moved))
        .defer("digest", "ciphertext", "key_id")
        .order_by("serial")
    )


def _is_unused(card: Card) -> bool:
    return (
        card.status == CardStatus.ACTIVE
        and card.balance == card.face_value
        and card.held == ZERO
        and card.reissued_from_id is None
        and not card.is_canary
        and not CardTransaction.objects.filter(card=card).exists()
    )


def _lines(cards: list[Card]) -> tuple[list[InvoiceLineData], Decimal]:
    """The credit note's lines, one per order line, and their total (before the cards are
    voided). A line's share of its amount is counted cumulatively (cards refunded before
    included), so rounding never gives back more than the line's amount."""
    by_batch: dict[int, int] = {}
    for card in cards:
        by_batch[card.batch_id] = by_batch.get(card.batch_id, 0) + 1
    batches = Batch.objects.select_related("line", "product").in_bulk(list(by_batch))
    result: list[InvoiceLineData] = []
    for batch_id in sorted(by_batch):
        batch, count = batches[batch_id], by_batch[batch_id]
        line = batch.line
        earlier = CardTransaction.objects.filter(
            card__batch_id=batch_id,
            kind=CardTransaction.Kind.VOID,
            idempotency_key__startswith=REFUND_KEY,
        ).count()
        share = quantize(line.amount * (earlier + count) / line.quantity) - quantize(
            line.amount * earlier / line.quantity
        )
        result.append(
            InvoiceLineData(
                description="",
                code=line_text.CARD_SALE,
                params=line_text.card_sale_params(
                    product=batch.product.name,
                    product_en=batch.product.name_en,
                    face_value=line.face_value,
                ),
                face_value=line.face_value,
                quantity=count,
                unit_price=line.unit_price,
                amount=share,
            )
        )
    return result, sum((line.amount for line in result), ZERO)


def _pick(order: Order, cards: Sequence[Card] | None, count: int | None) -> list[int]:
    if (cards is None) == (count is None):
        raise ValueError("give either the cards or how many")
    if cards is not None:
        ids = sorted({card.pk for card in cards})
        if not ids:
            raise DomainError(_("Choose at least one card."), code="no_cards")
        found = set(
            Card.objects.filter(pk__in=ids, batch__order=order).values_list("pk", flat=True)
        )
        if found != set(ids):
            raise DomainError(
                _("Some of the chosen cards are not cards of order %(number)s.")
                % {"number": order.number},
                code="not_order_cards",
            )
        return ids
    if count is None or count < 1:
        raise DomainError({"count": _("Refund at least one card.")})
    ids = list(unused_cards(order).values_list("pk", flat=True)[:count])
    if len(ids) < count:
        raise DomainError(
            {
                "count": ngettext(
                    "Order %(number)s has %(unused)s unused card, not %(count)s.",
                    "Order %(number)s has %(unused)s unused cards, not %(count)s.",
                    len(ids),
                )
                % {"number": order.number, "unused": len(ids), "count": count}
            }
        )
    return sorted(ids)


@transaction.atomic
def order_refund_unused_cards(
    *,
    order: Order,
    actor: User,
    reason: str,
    cards: Sequence[Card] | None = None,
    count: int | None = None,
    ip: str | None = None,
) -> RefundOutcome:
    """Void ``cards`` (or the first ``count`` unused cards by serial) of a delivered order and
    credit what they cost back to the company. All or nothing: one used card refuses the lot."""
    require_operator(actor)
    reason = require_reason(reason)
    locked_order = locks.lock_order(Order.objects.select_related("company"), pk=order.pk)
    if locked_order is None:
        raise Order.DoesNotExist(order.pk)
    if locked_order.status not in REFUNDABLE_ORDER_STATUSES or locked_order.invoice_id is None:
        raise StateConflict(
            _(
                "Order %(number)s is %(status)s: only the cards of an invoiced order whose cards "
                "are ready can be refunded."
            )
            % {"number": locked_order.number, "status": locked_order.get_status_display()},
            code="order_not_refundable",
        )
    ids = _pick(locked_order, cards, count)
    locked = list(Card.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    used = [card.serial_display for card in locked if not _is_unused(card)]
    if used:
        raise StateConflict(
            _(
                "Not refunded: card %(serials)s has been used, voided or reissued; only untouched "
                "cards are refunded."
            )
            % {"serials": ", ".join(used[:10])},
            code="card_used",
        )
    lines, amount = _lines(locked)
    for card in locked:
        void_locked_card(
            card, reason=reason, actor=actor, idempotency_key=f"{REFUND_KEY}{card.pk}", post=False
        )
    face = sum((card.face_value for card in locked), ZERO)
    journal_post(
        kind="card_void",
        idempotency_key=f"buyer_refund_void:{ids[0]}",
        postings=[
            (account_get(Account.Kind.CARD_LIABILITY), face),
            (account_get(Account.Kind.VOIDED_CARDS), -face),
        ],
        company=locked_order.company,
        reference=locked_order.number,
        memo=f"{len(locked)} unused cards refunded",
    )
    assert locked_order.invoice is not None
    credit_note = invoice_credit_part(
        invoice=locked_order.invoice,
        lines=lines,
        face_account_kind=Account.Kind.VOIDED_CARDS,
        reason=reason,
        actor=actor,
        idempotency_key=f"buyer_refund_credit:{ids[0]}",
        ip=ip,
    )
    audit_record(
        action=CardServiceAction.REFUNDED,
        actor=actor,
        company=locked_order.company,
        obj=locked_order,
        ip=ip,
        changes={
            "cards": len(locked),
            "serials": [card.serial_display for card in locked[:50]],
            "face_value": str(face),
            "credited": str(amount),
            "credit_note": credit_note.number,
            "reason": reason,
        },
    )
    return RefundOutcome(credit_note=credit_note, cards=locked, face_total=face, amount=amount)


def refund_summary(outcome: RefundOutcome) -> str:
    return ngettext(
        "%(count)s card voided; credit note %(number)s for %(amount)s.",
        "%(count)s cards voided; credit note %(number)s for %(amount)s.",
        len(outcome.cards),
    ) % {
        "count": len(outcome.cards),
        "number": outcome.credit_note.number,
        "amount": format_cny(outcome.amount),
    }
