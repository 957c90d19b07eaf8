"""The one lock order for money.

Every service that moves money takes its row locks through this module, and every transaction
takes them in this order (any subset, never going back up):

1. the company row                         ``lock_company`` (FOR NO KEY UPDATE)
2. the order row                           ``lock_order`` (cards passes its own queryset)
3. the company's credit line               ``lock_credit_line``
4. the payment                             ``lock_payment``
5. the company's ledger accounts           ``lock_company_accounts`` (credit account, FOR NO KEY
   UPDATE: postings to it from elsewhere are not blocked; creates the company's and the
   platform's accounts if missing)
6. invoices, by primary key                ``lock_invoices``
7. the invoice-number sequence row         ``billing.services.invoices.invoice_next_number``: taken
   last, just before commit; nothing but leaf rows (a credit hold) is locked after it

Within one rank, rows are locked in ascending key order (one ``lock_invoices`` call with every
invoice the transaction needs, rather than one call per invoice). A service that funds an order
after a payment never does it inside the payment's transaction: the funding is a follow-up
queued on commit, so a payment never waits for an order row.

With ``settings.MONEY_LOCK_ORDER_CHECK`` (on in development and tests), each call checks the order
against the locks this transaction already took through the module and raises
``LockOrderViolation`` when a lock would go back up: the deadlock is found by a test on one
connection, before two connections meet it in production.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model, QuerySet

from billing.models import Account, CreditLine, Invoice, Payment
from portal.models import Company


class Rank(enum.IntEnum):
    COMPANY = 1
    ORDER = 2
    CREDIT_LINE = 3
    PAYMENT = 4
    COMPANY_ACCOUNTS = 5
    INVOICE = 6
    INVOICE_NUMBER = 7


class LockOrderViolation(RuntimeError):
    """A programming error: a lock taken against the global order (a deadlock waiting to
    happen)."""


@dataclass
class _Held:
    token: object
    keys: dict[Rank, set[Any]] = field(default_factory=dict)

    def sentinel(self) -> None:
        """Registered with on_commit: present in the connection's list while the transaction
        that took the first lock is open."""


_ATTR = "_money_locks_held"


def _held() -> _Held | None:
    """What this transaction locked so far, or None when not checking. Tests run inside their
    own atomic blocks: the service's outermost block (a savepoint there) is the transaction."""
    if not connection.in_atomic_block:
        raise LockOrderViolation("money rows are locked only inside a transaction")
    blocks = connection.atomic_blocks
    own = [i for i, block in enumerate(blocks) if not getattr(block, "_from_testcase", False)]
    base = own[0] if own else None
    if base is None:
        return None  # a test body locking rows itself
    held: _Held | None = getattr(connection, _ATTR, None)
    if base > 0:
        token = connection.savepoint_ids[base - 1]
        if held is None or held.token != token:
            held = _Held(token=token)
            setattr(connection, _ATTR, held)
        return held
    if (
        held is not None
        and held.token is None
        and any(entry[1] == held.sentinel for entry in connection.run_on_commit)
    ):
        return held
    held = _Held(token=None)
    transaction.on_commit(held.sentinel)
    setattr(connection, _ATTR, held)
    return held


def note_lock(rank: Rank, keys: Iterable[Any]) -> None:
    """Check (when enabled) that locking ``keys`` at ``rank`` now keeps the global order."""
    if not getattr(settings, "MONEY_LOCK_ORDER_CHECK", False):
        return
    held = _held()
    if held is None:
        return
    new = set(keys) - held.keys.get(rank, set())
    if not new:
        return
    above = [r for r, rows in held.keys.items() if r > rank and rows]
    if above:
        raise LockOrderViolation(
            f"{rank.name} {sorted(new)} locked after {max(above).name}: see billing/locks.py"
        )
    same = held.keys.get(rank)
    if same and min(new) < max(same):
        raise LockOrderViolation(
            f"{rank.name} {min(new)} locked after {rank.name} {max(same)}: lock by key order"
        )
    held.keys.setdefault(rank, set()).update(new)


def lock_company(company_id: int) -> Company:
    """FOR NO KEY UPDATE: it serialises the company's submissions, yet rows that merely refer to
    the company (an allocation, a journal entry, an audit row) can still be written by others;
    a plain FOR UPDATE would make them wait for it, against the order above."""
    note_lock(Rank.COMPANY, [company_id])
    return Company.objects.select_for_update(no_key=True).get(pk=company_id)


def lock_order[M: Model](queryset: QuerySet[M], *, pk: int) -> M | None:
    """The order row (``queryset`` comes from cards, which the billing core never imports)."""
    note_lock(Rank.ORDER, [pk])
    return queryset.select_for_update(of=("self",)).filter(pk=pk).first()


def lock_credit_line(company: Company) -> CreditLine | None:
    note_lock(Rank.CREDIT_LINE, [company.pk])
    return CreditLine.objects.select_for_update().filter(company=company).first()


def lock_payment(payment_id: int) -> Payment:
    note_lock(Rank.PAYMENT, [payment_id])
    return Payment.objects.select_for_update(of=("self",)).get(pk=payment_id)


def lock_company_accounts(company: Company) -> Account:
    """The company's credit account (created with its receivable if missing, so that no account
    row is inserted later in the transaction): every use of company credit and every payment
    of the company serialise here."""
    from billing.services.ledger import account_get

    note_lock(Rank.COMPANY_ACCOUNTS, [company.pk])
    codes = [*_PLATFORM_ACCOUNTS, f"{Account.Kind.RECEIVABLE}:{company.pk}"]
    if Account.objects.filter(code__in=codes).count() < len(codes):
        # A first posting inserts its accounts; an insert waits for a competing one until that
        # commits, so it happens here, at this rank, and not after the invoice number.
        for kind in _PLATFORM_ACCOUNTS:
            account_get(kind)
        account_get(Account.Kind.RECEIVABLE, company)
    account = account_get(Account.Kind.COMPANY_CREDIT, company)
    return Account.objects.select_for_update(no_key=True).get(pk=account.pk)


# The platform's accounts that money acts post to (each is created once, by its first use).
_PLATFORM_ACCOUNTS = (
    Account.Kind.CASH,
    Account.Kind.CARDS_TO_ISSUE,
    Account.Kind.DISCOUNTS,
    Account.Kind.FEE_INCOME,
)


def lock_invoices(ids: Iterable[int]) -> dict[int, Invoice]:
    """Invoices by primary key, in one statement; returns them by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    note_lock(Rank.INVOICE, wanted)
    rows = Invoice.objects.select_for_update(of=("self",)).filter(pk__in=wanted).order_by("pk")
    return {invoice.pk: invoice for invoice in rows}


def lock_invoice(invoice_id: int) -> Invoice:
    return lock_invoices([invoice_id])[invoice_id]


def note_invoice_number(*, series: str, year: int) -> None:
    """The sequence row of a series: the last lock of a transaction."""
    note_lock(Rank.INVOICE_NUMBER, [(series, year)])
