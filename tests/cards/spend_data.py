"""Builders for tests of card spend as buyers and cardholders see it: issued orders whose lines
carry recipient fields, merchants, and card movements written through the one writer
(``card_transaction_write``) at chosen instants.

Movements here write no ledger entry (the merchant API's services do): these tests read cards
and their transactions, not the ledger."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from typing import Any

from django.db import transaction

from cards.models import Card, CardTransaction, Merchant, Order, OrderStatus
from cards.services import issuance
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from portal.models import Role
from tests import factories
from tests.cards.test_cards_pages import Buyer, run_chunks

_references = itertools.count(1)


def issued(who: Buyer, *lines: dict[str, Any]) -> Order:
    """A fulfilled credit order; each line is a dict of ``LineInput`` fields (face value and
    quantity at least)."""
    product = factories.product()
    order = order_create(
        company=who.company,
        actor=who.people[Role.PURCHASER],
        lines=[LineInput(product=str(product.public_id), **line) for line in lines],
    )
    order = order_submit(order=order, actor=who.people[Role.PURCHASER])
    assert order.status == OrderStatus.FUNDED
    order_begin_fulfilment(order_id=order.pk)
    run_chunks(order)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def cards_of(order: Order) -> list[Card]:
    return list(Card.objects.filter(batch__order=order).order_by("serial"))


def merchant(name: str = "Fresh Market Pudong") -> Merchant:
    return Merchant.objects.create(
        name=name,
        settlement_account_name=name,
        settlement_bank="Bank of Shanghai",
        settlement_account_number="6222000011112222",
    )


def move(
    card: Card,
    kind: str,
    amount: str,
    *,
    shop: Merchant | None = None,
    reference: str = "",
    at: datetime.datetime | None = None,
    original: CardTransaction | None = None,
    status: str | None = None,
) -> CardTransaction:
    """One movement of ``amount`` (signed) on the card, under its row lock."""
    with transaction.atomic():
        locked = card_lock(card.pk)
        return card_transaction_write(
            card=locked,
            kind=kind,
            amount=Decimal(amount),
            merchant=shop,
            original=original,
            merchant_reference=reference,
            idempotency_key=f"test:{kind}:{next(_references)}" if shop else None,
            status=status,
            at=at,
        )


def redeem(
    card: Card,
    amount: str,
    shop: Merchant,
    *,
    reference: str = "",
    at: datetime.datetime | None = None,
) -> CardTransaction:
    return move(
        card,
        CardTransaction.Kind.REDEEM,
        f"-{amount}",
        shop=shop,
        reference=reference or f"POS-{next(_references)}",
        at=at,
    )


def refund(
    redemption: CardTransaction,
    amount: str,
    *,
    at: datetime.datetime | None = None,
) -> CardTransaction:
    return move(
        redemption.card,
        CardTransaction.Kind.REFUND,
        amount,
        shop=redemption.merchant,
        reference=redemption.merchant_reference,
        original=redemption,
        at=at,
    )
