"""Automatic matching: by the references in the remittance text, else by a unique open amount
of the payer's company."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Q

from billing.models import Allocation, Invoice, Payment
from billing.services.payments._common import (
    PAYABLE_STATUSES,
    _after_change,
    _audit_allocations,
    _create_allocation,
    _lock_company_and_invoices,
    _lock_payment,
    _release_covered_proformas,
    payable_balance,
    payment_event,
)
from billing.services.payments.company_credit import company_credit_apply
from billing.services.payments.normalise import normalise_text
from portal.models import Company, User

_INVOICE_NUMBER_RE = re.compile(r"(INV|PF)-?(\d{4})-?(\d{6})")
_PAYMENT_REFERENCE_RE = re.compile(r"(?=(EC[0-9A-Z]{10}))")


def _referenced_invoices(text: str) -> list[Invoice]:
    """Invoices and pro-formas named in a remittance text, in the order they appear."""
    normalised = normalise_text(text)
    numbers = [f"{m[0]}-{m[1]}-{m[2]}" for m in _INVOICE_NUMBER_RE.findall(normalised)]
    references = _PAYMENT_REFERENCE_RE.findall(normalised)
    if not numbers and not references:
        return []
    found = Invoice.objects.filter(
        Q(number__in=numbers, kind__in=[Invoice.Kind.INVOICE, Invoice.Kind.PROFORMA])
        | Q(payment_reference__in=references)
    )
    position: dict[str, int] = {}
    for index, token in enumerate([*numbers, *references]):
        position.setdefault(token, index)
    return sorted(
        found,
        key=lambda inv: min(
            position.get(inv.number, 10**6), position.get(inv.payment_reference or "", 10**6)
        ),
    )


def _payer_companies(payment: Payment) -> set[int]:
    """Companies this payer is known as: the same account or name on earlier identified
    payments, or a company whose legal name is the payer's name."""
    ids: set[int] = set()
    # payment_record stores accounts as letters and digits only and names NFKC-normalised.
    query = Q()
    if payment.payer_account:
        query |= Q(payer_account=payment.payer_account)
    if payment.payer_name:
        query |= Q(payer_name__iexact=payment.payer_name)
    if not query:
        return ids
    earlier = Payment.objects.filter(query, company__isnull=False).exclude(pk=payment.pk)
    ids.update(earlier.values_list("company_id", flat=True).distinct())
    if payment.payer_name:
        ids.update(
            Company.objects.live()
            .filter(legal_name__iexact=payment.payer_name)
            .values_list("pk", flat=True)
        )
    return ids


def _apply_plan(
    *,
    payment: Payment,
    company: Company,
    invoice_ids: list[int],
    method: str,
    actor: User | None,
    note: str = "",
    leftover_to_credit: bool,
) -> list[Allocation]:
    """Under the payment's lock: spread what is unallocated over the invoices, in order, each up
    to its balance, and keep the rest as credit if asked."""
    locked = _lock_company_and_invoices(company, invoice_ids, credit_use=leftover_to_credit)
    created: list[Allocation] = []
    touched: list[Invoice] = []
    for invoice_id in invoice_ids:
        invoice = locked[invoice_id]
        amount = min(payment.unallocated, payable_balance(invoice))
        if amount <= 0:
            continue
        created.append(
            _create_allocation(
                kind=Allocation.Kind.INVOICE,
                method=method,
                company=company,
                amount=amount,
                payment=payment,
                invoice=invoice,
                actor=actor,
                note=note,
            )
        )
        touched.append(invoice)
    if not created:
        return []
    if leftover_to_credit and payment.unallocated > 0:
        created.append(
            _create_allocation(
                kind=Allocation.Kind.TO_CREDIT,
                method=method,
                company=company,
                amount=payment.unallocated,
                payment=payment,
                invoice=None,
                actor=actor,
                note=note,
            )
        )
    if payment.company_id is None:
        Payment.objects.filter(pk=payment.pk).update(company=company)
        payment.company = company
        payment_event(payment)
    if any(a.kind == Allocation.Kind.TO_CREDIT for a in created):
        created += company_credit_apply(company=company, actor=actor)
    _release_covered_proformas(touched, actor)  # takes an invoice number: last
    return created


@transaction.atomic
def payment_auto_match(*, payment: Payment) -> list[Allocation]:
    """Match a payment by the references in its remittance text, then by a unique open amount
    of the same payer. Returns the allocations made (none: it stays in the unmatched queue)."""
    locked = _lock_payment(payment)
    if locked.unallocated <= 0:
        return []
    referenced = [
        invoice
        for invoice in _referenced_invoices(locked.remittance)
        if locked.company_id is None or invoice.company_id == locked.company_id
    ]
    if any(payable_balance(invoice) > 0 for invoice in referenced):
        company = referenced[0].company
        ids = [invoice.pk for invoice in referenced if invoice.company_id == company.pk]
        created = _apply_plan(
            payment=locked,
            company=company,
            invoice_ids=ids,
            method=Allocation.Method.REFERENCE,
            actor=None,
            leftover_to_credit=True,
        )
        if created:
            _after_change(company)
            _audit_allocations(locked, created, actor=None, ip=None)
            return created
    company_ids = {locked.company_id} if locked.company_id else _payer_companies(locked)
    if len(company_ids) != 1:
        return []
    company = Company.objects.get(pk=company_ids.pop())
    candidates = [
        invoice
        for invoice in Invoice.objects.filter(
            company=company,
            kind__in=[Invoice.Kind.INVOICE, Invoice.Kind.PROFORMA],
            status__in=PAYABLE_STATUSES,
        )
        if payable_balance(invoice) == locked.amount
    ]
    if len(candidates) != 1:
        return []
    created = _apply_plan(
        payment=locked,
        company=company,
        invoice_ids=[candidates[0].pk],
        method=Allocation.Method.AMOUNT,
        actor=None,
        leftover_to_credit=False,
    )
    if created:
        _after_change(company)
        _audit_allocations(locked, created, actor=None, ip=None)
    return created
