"""Company credit: what is free to use, and using it on open invoices."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from billing import locks
from billing.audit import BillingAction
from billing.models import Account, Allocation, Invoice
from billing.money import ZERO
from billing.services.payments._common import (
    PAYABLE_STATUSES,
    _after_change,
    _create_allocation,
    payable_balance,
)
from portal.models import Company, User
from portal.services.audit import audit_record


def _credit_balance(company: Company) -> Decimal:
    """The credit the platform owes the company: the credit side of its credit account."""
    total = (
        Account.objects.filter(code=f"{Account.Kind.COMPANY_CREDIT}:{company.pk}")
        .aggregate(total=Sum("postings__amount"))
        .get("total")
    )
    return -(total or ZERO)


def _held_for_proformas(company: Company) -> Decimal:
    total = Invoice.objects.filter(
        company=company, kind=Invoice.Kind.PROFORMA, status__in=PAYABLE_STATUSES
    ).aggregate(total=Sum("paid_amount"))["total"]
    return total or ZERO


def company_credit_available(company: Company) -> Decimal:
    """Company credit free to use on invoices: the credit balance less what is held for open
    pro-forma invoices."""
    return max(_credit_balance(company) - _held_for_proformas(company), ZERO)


@transaction.atomic
def company_credit_apply(
    *,
    company: Company,
    invoice: Invoice | None = None,
    new_invoice: Invoice | None = None,
    actor: User | None = None,
) -> list[Allocation]:
    """Use the company's free credit on its open invoices, oldest first (or on one invoice).
    ``new_invoice``: one created in this transaction (after its number was taken), which no one
    else can see, so it is not locked again."""
    locks.lock_company_accounts(company)
    available = company_credit_available(company)
    if available <= 0:
        return []
    if new_invoice is not None:
        locked = {new_invoice.pk: new_invoice}
    else:
        candidates = Invoice.objects.filter(
            company=company, kind=Invoice.Kind.INVOICE, status__in=PAYABLE_STATUSES
        )
        if invoice is not None:
            candidates = candidates.filter(pk=invoice.pk)
        ids = list(candidates.values_list("pk", flat=True))
        if not ids:
            return []
        locked = locks.lock_invoices(ids)
    created: list[Allocation] = []
    for target in sorted(locked.values(), key=lambda inv: (inv.issue_date, inv.pk)):
        amount = min(available, payable_balance(target))
        if amount <= 0:
            continue
        created.append(
            _create_allocation(
                kind=Allocation.Kind.CREDIT_USE,
                method=Allocation.Method.CREDIT,
                company=company,
                amount=amount,
                payment=None,
                invoice=target,
                actor=actor,
            )
        )
        available -= amount
        if available <= 0:
            break
    for allocation in created:
        audit_record(
            action=BillingAction.CREDIT_APPLIED,
            actor=actor,
            company=company,
            obj=allocation.invoice,
            actor_label="" if actor is not None else "system",
            changes={"amount": str(allocation.amount)},
        )
    if created:
        _after_change(company)
    return created
