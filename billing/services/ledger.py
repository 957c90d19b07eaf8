"""The double-entry journal's single writer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction

from billing.models import Account, JournalEntry, Posting
from billing.money import ZERO
from portal.models import Company


class UnbalancedEntry(Exception):
    pass


def account_get(kind: str, company: Company | None = None, *, holder: str = "") -> Account:
    """The account of this kind (per company for receivables and customer credit; per
    ``holder``, an opaque id such as a merchant's public id, for merchant payables)."""
    account, _ = Account.objects.get_or_create(
        code=account_code(kind, company, holder=holder), defaults={"kind": kind, "company": company}
    )
    return account


def account_code(kind: str, company: Company | None = None, *, holder: str = "") -> str:
    """The code that names the account of this kind (and company, and holder)."""
    code = f"{kind}:{company.pk}" if company is not None else kind
    if holder:
        code = f"{code}:{holder}"
    return code


@transaction.atomic
def journal_post(
    *,
    kind: str,
    idempotency_key: str,
    postings: Iterable[tuple[Account, Decimal]],
    company: Company | None = None,
    reference: str = "",
    memo: str = "",
) -> JournalEntry:
    """Post one entry. Amounts on the same account are netted; debits are positive.

    Python refuses an unbalanced entry here; PostgreSQL refuses it again at commit (a deferred
    constraint trigger), so no code path can leave the books out of balance.
    """
    by_account: dict[int, Decimal] = defaultdict(lambda: ZERO)
    accounts: dict[int, Account] = {}
    for account, amount in postings:
        by_account[account.pk] += amount
        accounts[account.pk] = account
    lines = [(accounts[pk], amount) for pk, amount in by_account.items() if amount != ZERO]
    if sum((amount for _, amount in lines), ZERO) != ZERO or len(lines) < 2:
        raise UnbalancedEntry(f"{kind} {reference}: postings do not balance")
    entry = JournalEntry.objects.create(
        kind=kind,
        idempotency_key=idempotency_key,
        company=company,
        reference=reference,
        memo=memo[:200],
    )
    Posting.objects.bulk_create(
        Posting(entry=entry, account=account, amount=amount) for account, amount in lines
    )
    return entry


def account_balance(account: Account) -> Decimal:
    from django.db.models import Sum

    total = Posting.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def ledger_post_card_issuance(
    *, company: Company, reference: str, face_total: Decimal, idempotency_key: str
) -> JournalEntry:
    """Cards of one batch now exist: their face value moves from "not yet issued" to the live
    card liability (which always equals the sum of live card balances)."""
    return journal_post(
        kind="card_issuance",
        idempotency_key=idempotency_key,
        postings=[
            (account_get(Account.Kind.CARDS_TO_ISSUE), face_total),
            (account_get(Account.Kind.CARD_LIABILITY), -face_total),
        ],
        company=company,
        reference=reference,
        memo=f"cards issued {reference}",
    )
