"""Cards to expire: orders issued in-process (as tests/cards/test_issuance.py), with the ledger
entries issuance posts, so that the ledger check has real books to judge."""

# Cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from billing.models import Account
from billing.services.ledger import account_balance, account_get, journal_post
from cards import codes
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
)
from cards.services import issuance
from cards.services.card_movements import card_lock, card_transaction_write
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from portal.models import Company, User
from tests import factories

DAY = datetime.timedelta(days=1)


@dataclass
class Buyer:
    company: Company
    people: dict[str, User]


def buyer(name: str = "") -> Buyer:
    company = factories.company(name, approval_threshold="1000000.00")
    factories.credit_line(company, "1000000.00")
    return Buyer(company=company, people=factories.team(company))


def issued(
    who: Buyer,
    lines: list[LineInput],
    *,
    delivery_method: str = DeliveryMethod.FILE,
    registered: bool = False,
) -> list[Card]:
    """An order of these lines, funded on credit and generated; its cards by serial."""
    order = order_create(
        company=who.company,
        actor=who.people["purchaser"],
        lines=lines,
        delivery_method=delivery_method,
        registration=factories.registration() if registered else None,
    )
    order = order_submit(order=order, actor=who.people["purchaser"])
    assert order.status == OrderStatus.FUNDED
    order_begin_fulfilment(order_id=order.pk)
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    return list(Card.objects.filter(batch__order=order).order_by("serial"))


def line(product: CardProduct, face_value: str, quantity: int = 1, **recipient: str) -> LineInput:
    return LineInput(
        product=str(product.public_id), face_value=face_value, quantity=quantity, **recipient
    )


def bearer_product() -> CardProduct:
    return factories.product(card_type=CardType.BEARER)


def registered_product() -> CardProduct:
    return factories.product(
        name="实名卡", card_type=CardType.REGISTERED, face_values=["1000", "2000"]
    )


def order_of(card: Card) -> Order:
    return card.batch.order


def code_of(card: Card) -> str:
    """The card's code as a holder would read it out (grouped, lower case)."""
    card = Card.objects.get(pk=card.pk)
    canonical = codes.reveal(
        serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
    )
    return codes.format_code(canonical).lower()


def owed(kind: str) -> Decimal:
    """What a liability account owes (minus the sum of its postings)."""
    return -account_balance(account_get(kind))


CARD_LIABILITY = Account.Kind.CARD_LIABILITY
EXPIRED_LIABILITY = Account.Kind.EXPIRED_LIABILITY
BREAKAGE_INCOME = Account.Kind.BREAKAGE_INCOME
VOIDED_CARDS = Account.Kind.VOIDED_CARDS


def fresh(card: Card) -> Card:
    return Card.objects.get(pk=card.pk)


def expiry_of(card: Card) -> datetime.datetime:
    """The card's expiry date as stored now (bearer cards have one)."""
    expires_at = fresh(card).expires_at
    assert expires_at is not None
    return expires_at


def merchant() -> Merchant:
    return Merchant.objects.create(
        name="Shop",
        settlement_account_name="Shop",
        settlement_bank="Bank",
        settlement_account_number="1",
    )


def spend(card: Card, amount: str, shop: Merchant) -> None:
    """A redemption as the merchant API writes it: the card transaction and its ledger entry."""
    value = Decimal(amount)
    with transaction.atomic():
        locked = card_lock(card.pk)
        written = card_transaction_write(
            card=locked, kind=CardTransaction.Kind.REDEEM, amount=-value, merchant=shop
        )
        journal_post(
            kind="card_redemption",
            idempotency_key=f"test-redeem:{written.pk}",
            postings=[
                (account_get(CARD_LIABILITY), value),
                (account_get(Account.Kind.MERCHANT_PAYABLE, holder=str(shop.public_id)), -value),
            ],
        )
