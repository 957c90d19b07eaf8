"""Test data for card service and merchant settlement: a company with issued cards (generated
in-process, as tests/cards/test_issuance.py does), operators, merchants, and merchant movements
written the way the merchant API writes them (``card_transaction_write`` and its ledger entry)."""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from billing.models import Account, Posting
from billing.money import ZERO
from billing.services.ledger import account_get, journal_post
from cards.models import (
    Card,
    CardProduct,
    CardTransaction,
    CardType,
    Chunk,
    DeliveryMethod,
    Merchant,
    Order,
    OrderStatus,
    PaymentMethod,
)
from cards.services import issuance
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from portal.models import Company, User
from tests import factories

_keys = itertools.count(1)


@dataclass
class Shop:
    company: Company
    people: dict[str, User]
    bearer: CardProduct
    registered: CardProduct
    maker: User  # an operator who asks
    checker: User  # a second operator who approves


def shop() -> Shop:
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "500000.00")
    return Shop(
        company=company,
        people=factories.team(company),
        bearer=factories.product(),
        registered=factories.product(
            name="实名卡", card_type=CardType.REGISTERED, face_values=["500", "2000", "5000"]
        ),
        maker=factories.operator(),
        checker=factories.operator(),
    )


def issue(
    shop: Shop,
    *,
    registered: bool = False,
    face_value: str = "100",
    quantity: int = 2,
    recipients: bool = False,
    payment_method: str = PaymentMethod.CREDIT,
    product: CardProduct | None = None,
) -> Order:
    """An order of one line, funded and its cards generated (FULFILLED). With ``recipients``,
    each card goes to Wang Xiaoming by email."""
    product = product or (shop.registered if registered else shop.bearer)
    line = LineInput(product=str(product.public_id), face_value=face_value, quantity=quantity)
    if recipients:
        line = LineInput(
            product=str(product.public_id),
            face_value=face_value,
            quantity=quantity,
            recipient_name="Wang Xiaoming",
            recipient_email="xiaoming@example.com",
        )
    order = order_create(
        company=shop.company,
        actor=shop.people["purchaser"],
        lines=[line],
        payment_method=payment_method,
        delivery_method=DeliveryMethod.RECIPIENTS if recipients else DeliveryMethod.FILE,
        registration=factories.registration() if registered else None,
    )
    order = order_submit(order=order, actor=shop.people["purchaser"])
    if payment_method == PaymentMethod.BANK_TRANSFER:
        from billing.services.invoices import proforma_mark_paid

        assert order.proforma is not None
        proforma_mark_paid(proforma=order.proforma, actor=shop.maker)
        factories.run_funding_follow_ups()
        order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED, order.status
    order_begin_fulfilment(order_id=order.pk)
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def cards_of(order: Order) -> list[Card]:
    return list(Card.objects.filter(batch__order=order).order_by("serial"))


def merchant(name: str = "Harbour Mart") -> Merchant:
    return Merchant.objects.create(
        name=name,
        settlement_account_name=name,
        settlement_bank="ICBC Shanghai",
        settlement_account_number="6222 0000 0000 0001",
    )


def _payable(shop_merchant: Merchant) -> Account:
    return account_get(Account.Kind.MERCHANT_PAYABLE, holder=str(shop_merchant.public_id))


def redeem(
    card: Card,
    shop_merchant: Merchant,
    amount: str,
    *,
    reference: str = "",
    at: datetime.datetime | None = None,
) -> CardTransaction:
    """A redemption as the merchant API makes it: card liability +A, merchant payable -A."""
    value = Decimal(amount)
    with transaction.atomic():
        locked = card_lock(card.pk)
        movement = card_transaction_write(
            card=locked,
            kind=CardTransaction.Kind.REDEEM,
            amount=-value,
            merchant=shop_merchant,
            merchant_reference=reference or f"SO-{next(_keys)}",
            idempotency_key=f"{shop_merchant.pk}:redeem-{next(_keys)}",
            at=at,
        )
        journal_post(
            kind="card_redemption",
            idempotency_key=f"card_redemption:{movement.pk}",
            postings=[
                (account_get(Account.Kind.CARD_LIABILITY), value),
                (_payable(shop_merchant), -value),
            ],
        )
    return movement


def give_back(
    original: CardTransaction,
    amount: str,
    *,
    kind: str = CardTransaction.Kind.REFUND,
    at: datetime.datetime | None = None,
) -> CardTransaction:
    """A merchant's refund (or voided redemption): merchant payable +A, card liability -A."""
    value = Decimal(amount)
    shop_merchant = original.merchant
    assert shop_merchant is not None
    with transaction.atomic():
        locked = card_lock(original.card_id)
        movement = card_transaction_write(
            card=locked,
            kind=kind,
            amount=value,
            merchant=shop_merchant,
            original=original,
            merchant_reference=f"RF-{next(_keys)}",
            idempotency_key=f"{shop_merchant.pk}:{kind}-{next(_keys)}",
            at=at,
        )
        journal_post(
            kind=f"card_{kind}",
            idempotency_key=f"card_{kind}:{movement.pk}",
            postings=[
                (_payable(shop_merchant), value),
                (account_get(Account.Kind.CARD_LIABILITY), -value),
            ],
        )
    return movement


def balance_of(kind: str, *, company: Company | None = None, holder: str = "") -> Decimal:
    """An account's balance (debits positive) by kind: summed over every account of the kind
    unless a company or holder narrows it."""
    postings = Posting.objects.filter(account__kind=kind)
    if company is not None:
        postings = postings.filter(account__company=company)
    if holder:
        postings = postings.filter(account__code__endswith=f":{holder}")
    return postings.aggregate(total=Sum("amount"))["total"] or ZERO
