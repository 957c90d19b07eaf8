"""A redemption on PostgreSQL is one statement (the card's guarded update, the transaction, the
journal entry and its postings, the audit row) when the card qualifies and the merchant's payable
account exists; otherwise the ORM path under the card's lock. Both write the same rows."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import JournalEntry
from cards.models import CardStatus, CardTransaction
from cards.services.spend import redemption_create
from cards.services.spend.common import IdempotencyKeyReused, InsufficientBalance
from cards.services.spend.keys import merchant_key_authenticate
from portal.models import AuditEvent
from tests.cards.spend.helpers import (
    assert_books_agree,
    issued_card,
    merchant_key,
    new_key,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the statement is PostgreSQL's"),
]


def _rows(tx: CardTransaction) -> tuple[Any, ...]:
    entry = JournalEntry.objects.get(idempotency_key=f"card-tx:{tx.public_id}")
    postings = sorted((p.account.code, p.amount) for p in entry.postings.select_related("account"))
    audit = AuditEvent.objects.get(object_id=str(tx.public_id))
    return (
        (tx.kind, tx.amount, tx.merchant_id, tx.merchant_reference, tx.original_id, tx.hold_id),
        (entry.kind, entry.memo, entry.company_id),
        postings,
        (audit.action, audit.actor_label, audit.object_type, audit.ip, audit.changes),
    )


def test_the_statement_writes_what_the_orm_path_writes() -> None:
    key, _plaintext = merchant_key()
    first, second = issued_card("100"), issued_card("100")
    # The merchant's first redemption makes its payable account: the ORM path.
    slow = redemption_create(
        key=key,
        code=first.code,
        amount=Decimal("40"),
        merchant_reference="R-1",
        idempotency_key=new_key(),
        ip="198.51.100.7",
    )
    with CaptureQueriesContext(connection) as queries:
        fast = redemption_create(
            key=key,
            code=second.code,
            amount=Decimal("40"),
            merchant_reference="R-1",
            idempotency_key=new_key(),
            ip="198.51.100.7",
        )
    # The look-up, and the redemption in one statement (the Idempotency-Key's check inside it,
    # with its savepoint): a new key costs no query of its own.
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]) == 2
    assert fast.transaction.balance_after == Decimal("60.00")
    stored = CardTransaction.objects.get(pk=fast.transaction.pk)
    assert stored.public_id == fast.transaction.public_id
    assert stored.balance_after == Decimal("60.00")
    assert stored.idempotency_key == fast.transaction.idempotency_key
    assert stored.request_digest == fast.transaction.request_digest
    slow_rows, fast_rows = _rows(slow.transaction), _rows(stored)
    assert slow_rows[:3] == fast_rows[:3]
    entry = JournalEntry.objects.get(idempotency_key=f"card-tx:{stored.public_id}")
    assert entry.reference == second.card.serial_display
    slow_audit, fast_audit = slow_rows[3], fast_rows[3]
    assert slow_audit[:4] == fast_audit[:4]
    assert slow_audit[4]["serial"] != fast_audit[4]["serial"]
    assert {k: v for k, v in slow_audit[4].items() if k != "serial"} == {
        k: v for k, v in fast_audit[4].items() if k != "serial"
    }
    assert fast_audit[4]["serial"] == second.card.serial_display
    card = second.refresh()
    assert (card.balance, card.status, card.last_activity_at) == (
        Decimal("60.00"),
        CardStatus.ACTIVE,
        stored.created_at,
    )
    assert_books_agree()


def test_spending_the_whole_balance_depletes_the_card_and_more_is_refused() -> None:
    key, _plaintext = merchant_key()
    warm, card = issued_card("100"), issued_card("100")
    redemption_create(
        key=key, code=warm.code, amount=Decimal("1"), merchant_reference="", idempotency_key="w"
    )
    spent = redemption_create(
        key=key, code=card.code, amount=Decimal("100"), merchant_reference="", idempotency_key="a"
    )
    assert card.refresh().status == CardStatus.DEPLETED
    assert spent.transaction.card.status == CardStatus.DEPLETED
    with pytest.raises(InsufficientBalance):
        redemption_create(
            key=key,
            code=card.code,
            amount=Decimal("0.01"),
            merchant_reference="",
            idempotency_key="b",
        )
    assert_books_agree()


def test_a_key_used_again_replays_or_is_refused() -> None:
    key, _plaintext = merchant_key()
    warm, card = issued_card("100"), issued_card("100")
    redemption_create(
        key=key, code=warm.code, amount=Decimal("1"), merchant_reference="", idempotency_key="w"
    )
    first = redemption_create(
        key=key, code=card.code, amount=Decimal("5"), merchant_reference="", idempotency_key="k"
    )
    again = redemption_create(
        key=key, code=card.code, amount=Decimal("5"), merchant_reference="", idempotency_key="k"
    )
    assert again.replayed
    assert again.transaction.pk == first.transaction.pk
    with pytest.raises(IdempotencyKeyReused):
        redemption_create(
            key=key, code=card.code, amount=Decimal("6"), merchant_reference="", idempotency_key="k"
        )
    assert card.refresh().balance == Decimal("95.00")


def test_the_hot_statements_are_prepared_once_per_connection() -> None:
    key, plaintext = merchant_key()
    cards = [issued_card("100") for _ in range(3)]
    for card in cards:
        redemption_create(
            key=key,
            code=card.code,
            amount=Decimal("1"),
            merchant_reference="",
            idempotency_key=new_key(),
        )
    # (After the redemptions: the merchant's first one rolls back to a savepoint, and psycopg
    # forgets what it prepared in the transaction.)
    assert merchant_key_authenticate(plaintext) == key
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("WITH card AS" in statement for statement in prepared)
    # The card's look-up, with the blocks of its failed look-up limits in the same statement.
    assert any(
        '"cards_lookupblock"' in statement and '"cards_card"."digest" = $5' in statement
        for statement in prepared
    )
    # The key with its merchant.
    assert any('WHERE k."prefix" = $1' in statement for statement in prepared)
    assert [c.refresh().balance for c in cards] == [Decimal("99.00")] * 3
