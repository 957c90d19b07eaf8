"""Operators' allocation of a payment across invoices and company credit, and the reversal of
an allocation."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing import locks
from billing.audit import BillingAction
from billing.models import Allocation, Invoice, JournalEntry, Payment
from billing.money import ZERO, format_cny
from billing.services.payments._common import (
    _after_change,
    _audit_allocations,
    _create_allocation,
    _invoice_add_paid,
    _lock_company_and_invoices,
    _lock_payment,
    _payment_add_allocated,
    _post,
    _release_covered_proformas,
    payable_balance,
    payment_event,
)
from billing.services.payments.company_credit import company_credit_apply, company_credit_available
from portal.models import Company, User
from portal.services.audit import audit_record


@transaction.atomic
def allocation_create(
    *,
    payment: Payment,
    allocations: list[tuple[Invoice, Decimal]],
    to_credit: Decimal = ZERO,
    actor: User | None,
    method: str = Allocation.Method.MANUAL,
    note: str = "",
    ip: str | None = None,
    company: Company | None = None,
) -> list[Allocation]:
    """Allocate one payment across invoices (each up to its balance) and keep an optional part
    as the company's credit. Refuses anything that would allocate more than the payment.
    ``company`` identifies the payer of a payment not matched to a company yet."""
    locked = _lock_payment(payment)
    to_credit = to_credit or ZERO
    errors: list[str] = []
    merged: dict[int, Decimal] = {}
    wanted: dict[int, Invoice] = {}
    for invoice, amount in allocations:
        if amount is None or amount == 0:
            continue
        if amount < 0:
            errors.append(
                _("The amount for %(number)s must be more than zero, not %(amount)s.")
                % {"number": invoice.number, "amount": format_cny(amount)}
            )
            continue
        merged[invoice.pk] = merged.get(invoice.pk, ZERO) + amount
        wanted[invoice.pk] = invoice
    if to_credit < 0:
        errors.append(
            _("The amount kept as credit cannot be negative (%(amount)s).")
            % {"amount": format_cny(to_credit)}
        )
    if errors:
        raise ValidationError(errors)
    if not merged and to_credit == 0:
        raise ValidationError(_("Give an amount for at least one invoice, or keep it as credit."))
    companies = {invoice.company_id for invoice in wanted.values()}
    if locked.company_id is not None:
        companies.add(locked.company_id)
    if company is not None:
        companies.add(company.pk)
    if len(companies) > 1:
        raise ValidationError(
            _(
                "Payment %(reference)s can only pay invoices of one company; the invoices "
                "chosen belong to different companies."
            )
            % {"reference": locked.bank_reference}
        )
    if not companies:
        raise ValidationError(
            _("Choose the company first: payment %(reference)s is not identified yet.")
            % {"reference": locked.bank_reference}
        )
    company = Company.objects.get(pk=companies.pop())
    invoices = _lock_company_and_invoices(company, merged, credit_use=to_credit > 0)
    total = sum(merged.values(), ZERO) + to_credit
    if total > locked.unallocated:
        raise ValidationError(
            _("Payment %(reference)s has %(free)s left to allocate; %(total)s is more than that.")
            % {
                "reference": locked.bank_reference,
                "free": format_cny(locked.unallocated),
                "total": format_cny(total),
            }
        )
    for pk, amount in merged.items():
        invoice = invoices[pk]
        if invoice.kind == Invoice.Kind.CREDIT_NOTE:
            errors.append(
                _("%(number)s is a credit note; a payment cannot be allocated to it.")
                % {"number": invoice.number}
            )
        elif invoice.status == Invoice.Status.VOID:
            errors.append(
                _("Invoice %(number)s is void; choose another invoice.")
                % {"number": invoice.number}
            )
        elif amount > payable_balance(invoice):
            errors.append(
                _("Invoice %(number)s has %(balance)s left to pay; %(amount)s is more than that.")
                % {
                    "number": invoice.number,
                    "balance": format_cny(payable_balance(invoice)),
                    "amount": format_cny(amount),
                }
            )
    if errors:
        raise ValidationError(errors)
    if locked.company_id is None:
        Payment.objects.filter(pk=locked.pk).update(company=company)
        locked.company = company
        payment_event(locked)
    created: list[Allocation] = []
    for pk in sorted(merged):
        created.append(
            _create_allocation(
                kind=Allocation.Kind.INVOICE,
                method=method,
                company=company,
                amount=merged[pk],
                payment=locked,
                invoice=invoices[pk],
                actor=actor,
                note=note,
            )
        )
    if to_credit > 0:
        created.append(
            _create_allocation(
                kind=Allocation.Kind.TO_CREDIT,
                method=method,
                company=company,
                amount=to_credit,
                payment=locked,
                invoice=None,
                actor=actor,
                note=note,
            )
        )
    _audit_allocations(locked, created, actor=actor, ip=ip)
    if to_credit > 0:
        created += company_credit_apply(company=company, actor=actor)
    _after_change(company)
    # Takes an invoice number: the last lock of the transaction.
    _release_covered_proformas([invoices[pk] for pk in sorted(merged)], actor)
    return created


@transaction.atomic
def allocation_reverse(
    *, allocation: Allocation, actor: User | None, reason: str, ip: str | None = None
) -> Allocation:
    """Undo an allocation with a new, negative one and the opposite journal entry."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Give a reason for the reversal.")})
    original = Allocation.objects.select_related("company").get(pk=allocation.pk)
    payment = _lock_payment(original.payment) if original.payment is not None else None
    locks.lock_company_accounts(original.company)
    invoice = None
    if original.invoice_id is not None:
        invoice = locks.lock_invoice(original.invoice_id)
    if original.reverses_id is not None:
        raise ValidationError(_("A reversal cannot itself be reversed."))
    if Allocation.objects.filter(reverses=original).exists():
        raise ValidationError(_("This allocation was already reversed."))
    if invoice is not None and invoice.status == Invoice.Status.VOID:
        raise ValidationError(
            _(
                "Invoice %(number)s is void: what was paid on it is already the company's "
                "credit. Reverse the credit instead."
            )
            % {"number": invoice.number}
        )
    if (
        invoice is not None
        and invoice.kind == Invoice.Kind.PROFORMA
        and invoice.status == Invoice.Status.PAID
    ):
        raise ValidationError(
            _(
                "Pro-forma invoice %(number)s is paid and its order funded; void its "
                "invoice instead, which keeps the payment as company credit."
            )
            % {"number": invoice.number}
        )
    if original.kind == Allocation.Kind.TO_CREDIT:
        available = company_credit_available(original.company)
        if available < original.amount:
            raise ValidationError(
                _("Only %(available)s of this credit is unused; reverse where it was used first.")
                % {"available": format_cny(available)}
            )
    entry = JournalEntry.objects.get(idempotency_key=f"allocation:{original.public_id}")
    reversal = Allocation.objects.create(
        kind=original.kind,
        method=Allocation.Method.REVERSAL,
        company=original.company,
        payment=payment,
        invoice=invoice,
        amount=-original.amount,
        reverses=original,
        note=reason.strip()[:300],
        created_by=actor if actor is not None and actor.pk else None,
    )
    _post(reversal, [(posting.account, -posting.amount) for posting in entry.postings.all()])
    if invoice is not None:
        _invoice_add_paid(invoice, -original.amount)
    if payment is not None:
        _payment_add_allocated(payment, -original.amount)
    audit_record(
        action=BillingAction.ALLOCATION_REVERSED,
        actor=actor,
        company=original.company,
        obj=payment or invoice,
        ip=ip,
        changes={
            "kind": original.kind,
            "invoice": invoice.number if invoice else None,
            "amount": str(original.amount),
            "reason": reason.strip(),
        },
    )
    _after_change(original.company)
    return reversal
