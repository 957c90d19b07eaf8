"""What the payment services share: payable balances, the locks in their global order, and one
allocation with its journal entry and its effect on the invoice and the payment (see the
package docstring)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.utils import timezone

from billing import locks
from billing.audit import BillingAction
from billing.dues import OPEN_STATUSES
from billing.models import Account, Allocation, Invoice, JournalEntry, Payment
from billing.money import ZERO
from billing.services.invoices import invoice_move, proforma_mark_paid
from billing.services.ledger import account_get, journal_post
from billing.services.receivables.holds import credit_hold_refresh
from portal.models import Company, User
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit

PAYABLE_STATUSES = OPEN_STATUSES  # an invoice takes payments while it is open


def _today() -> Any:
    return timezone.localdate()


def payable_balance(invoice: Invoice) -> Decimal:
    """What a payment can still be allocated to: an open invoice's balance, or what is missing on
    an open pro-forma. Nothing for paid or void invoices and credit notes."""
    if invoice.kind not in (Invoice.Kind.INVOICE, Invoice.Kind.PROFORMA):
        return ZERO
    if invoice.status not in PAYABLE_STATUSES:
        return ZERO
    return invoice.total - invoice.paid_amount


def _status_after(invoice: Invoice, paid_amount: Decimal) -> str:
    if invoice.kind == Invoice.Kind.PROFORMA:
        return invoice.status  # proforma_mark_paid marks it paid, once
    if paid_amount == invoice.total:
        return Invoice.Status.PAID
    if invoice.due_date is not None and invoice.due_date < _today():
        return Invoice.Status.OVERDUE
    return Invoice.Status.OPEN


def _payment_status(allocated: Decimal, amount: Decimal) -> str:
    if allocated <= 0:
        return Payment.Status.UNMATCHED
    if allocated < amount:
        return Payment.Status.PARTIAL
    return Payment.Status.ALLOCATED


def _lock_payment(payment: Payment) -> Payment:
    return locks.lock_payment(payment.pk)


def _credit_use_candidates(company: Company) -> list[int]:
    """The company's open sale invoices: what its credit may be used on."""
    return list(
        Invoice.objects.filter(
            company=company, kind=Invoice.Kind.INVOICE, status__in=PAYABLE_STATUSES
        ).values_list("pk", flat=True)
    )


def _lock_company_and_invoices(
    company: Company, ids: Iterable[int], *, credit_use: bool
) -> dict[int, Invoice]:
    """After the payment: the company's credit account, then in one statement the invoices
    (and, when its credit may be used, its open invoices too: nothing is locked later)."""
    locks.lock_company_accounts(company)
    wanted = set(ids)
    if credit_use:
        wanted.update(_credit_use_candidates(company))
    return locks.lock_invoices(wanted)


def _after_change(company: Company) -> None:
    """Receivables re-evaluate the company's credit hold once its invoices' balances changed."""
    credit_hold_refresh(company=company)


def _entry_postings(
    kind: str, company: Company, amount: Decimal, invoice: Invoice | None
) -> list[tuple[Account, Decimal]]:
    cash = account_get(Account.Kind.CASH)
    credit = account_get(Account.Kind.COMPANY_CREDIT, company)
    receivable = account_get(Account.Kind.RECEIVABLE, company)
    if kind == Allocation.Kind.TO_CREDIT or (
        invoice is not None and invoice.kind == Invoice.Kind.PROFORMA
    ):
        return [(cash, amount), (credit, -amount)]
    if kind == Allocation.Kind.CREDIT_USE:
        return [(credit, amount), (receivable, -amount)]
    return [(cash, amount), (receivable, -amount)]


def _post(allocation: Allocation, postings: list[tuple[Account, Decimal]]) -> JournalEntry:
    labels = {
        Allocation.Kind.INVOICE: "payment_allocated",
        Allocation.Kind.TO_CREDIT: "payment_to_credit",
        Allocation.Kind.CREDIT_USE: "credit_applied",
    }
    kind = labels[Allocation.Kind(allocation.kind)]
    if allocation.reverses_id is not None:
        kind += "_reversal"
    reference = ""
    if allocation.payment is not None:
        reference = allocation.payment.bank_reference
    memo = allocation.invoice.number if allocation.invoice is not None else "company credit"
    return journal_post(
        kind=kind,
        idempotency_key=f"allocation:{allocation.public_id}",
        postings=postings,
        company=allocation.company,
        reference=reference[:64],
        memo=memo,
    )


def _invoice_add_paid(invoice: Invoice, amount: Decimal) -> None:
    """Under the invoice's lock: change its paid amount and status."""
    paid = invoice.paid_amount + amount
    invoice_move(invoice, _status_after(invoice, paid), paid_amount=paid)


def _payment_add_allocated(payment: Payment, amount: Decimal) -> None:
    """Under the payment's lock."""
    allocated = payment.allocated_amount + amount
    status = _payment_status(allocated, payment.amount)
    Payment.objects.filter(pk=payment.pk).update(allocated_amount=allocated, status=status)
    payment.allocated_amount = allocated
    payment.status = status


def _create_allocation(
    *,
    kind: str,
    method: str,
    company: Company,
    amount: Decimal,
    payment: Payment | None,
    invoice: Invoice | None,
    actor: User | None,
    note: str = "",
) -> Allocation:
    allocation = Allocation.objects.create(
        kind=kind,
        method=method,
        company=company,
        payment=payment,
        invoice=invoice,
        amount=amount,
        note=note[:300],
        created_by=actor if actor is not None and actor.pk else None,
    )
    _post(allocation, _entry_postings(kind, company, amount, invoice))
    if invoice is not None:
        _invoice_add_paid(invoice, amount)
    if payment is not None:
        _payment_add_allocated(payment, amount)
    return allocation


def _release_covered_proformas(invoices: Iterable[Invoice], actor: User | None) -> None:
    for invoice in invoices:
        if (
            invoice.kind == Invoice.Kind.PROFORMA
            and invoice.status in PAYABLE_STATUSES
            and invoice.paid_amount == invoice.total
        ):
            proforma_mark_paid(proforma=invoice, actor=actor, receipt_from_credit=True)


def _audit_allocations(
    payment: Payment, created: list[Allocation], *, actor: User | None, ip: str | None
) -> None:
    audit_record(
        action=BillingAction.PAYMENT_ALLOCATED,
        actor=actor,
        company=payment.company,
        obj=payment,
        ip=ip,
        actor_label="" if actor is not None else "system",
        changes={
            "allocations": [
                {
                    "kind": a.kind,
                    "method": a.method,
                    "invoice": a.invoice.number if a.invoice else None,
                    "amount": str(a.amount),
                }
                for a in created
            ]
        },
    )


def payment_event(payment: Payment) -> None:
    """The webhook event of a payment, once it is known to be the company's."""
    if payment.company_id is None:
        return
    emit(
        payment.company_id,
        EventType.PAYMENT_RECEIVED,
        payment,
        {
            "id": str(payment.public_id),
            "bank_reference": payment.bank_reference,
            "amount": str(payment.amount),
            "received_on": payment.received_on,
        },
    )
