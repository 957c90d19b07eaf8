"""Builders for test-mode tests: a company with a member of each role and a credit line, its
live keys and test keys, and a sandbox order taken all the way to its cards."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from billing.models import JournalEntry, Posting
from cards import codes
from cards.models import Card, CardProduct, Order, OrderStatus
from cards.services import issuance
from cards.services.workflow import order_begin_fulfilment
from portal import policy
from portal.models import Company, User
from portal.services.api_keys import api_key_create
from tests.api.helpers import ORDERS, Api, buyer, line, order_body
from tests.cards.test_cards_pages import run_chunks


def sandbox_key_for(company: Company, user: User, scopes: list[str] | None = None) -> str:
    membership = company.memberships.get(user=user)
    _key, plaintext = api_key_create(
        company=company,
        user=user,
        name=f"test key of {user.email}",
        scopes=policy.scopes_for(membership) if scopes is None else scopes,
        second_factor_at=time.time(),
        test=True,
    )
    return plaintext


@dataclass
class Integrator:
    """A buyer with live keys and test keys for each member."""

    company: Company
    people: dict[str, User]
    live_keys: dict[str, str]
    test_keys: dict[str, str] = field(default_factory=dict)

    def live(self, role: str = "purchaser") -> Api:
        return Api(self.live_keys[role])

    def test(self, role: str = "purchaser") -> Api:
        return Api(self.test_keys[role])


def integrator(*, approval_threshold: str = "1000.00", credit: str | None = "100000.00"):
    who = buyer(approval_threshold=approval_threshold, credit=credit)
    keys = {role: sandbox_key_for(who.company, user) for role, user in who.people.items()}
    return Integrator(who.company, who.people, who.keys, keys)


def order_through(api: Api, product: CardProduct, *, quantity: int = 5, ref: str = "r1", **extra):
    return api.post(
        ORDERS,
        order_body(line(product, quantity=quantity), submit=True, **extra),
        idempotency_key=ref,
    )


def ordered(api: Api, product: CardProduct, **kwargs) -> Order:
    response = order_through(api, product, **kwargs)
    assert response.status_code == 201, response.json()
    return Order.objects.get(number=response.json()["number"])


def issue(order: Order) -> Order:
    """Generate a funded order's cards as the workers would, and finalise its batches."""
    order_begin_fulfilment(order_id=order.pk)
    run_chunks(order)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def code_of(card: Card) -> str:
    return codes.reveal(
        serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
    )


def ledger_size() -> tuple[int, int]:
    return JournalEntry.objects.count(), Posting.objects.count()
