"""Payments received by bank transfer: recording, automatic matching, allocation, company credit.

Recording. ``payment_record`` creates a payment once per bank line: its ``dedupe_key`` (unique in
the database) is the SHA-256 of the normalised bank reference, or of the date, amount, payer
account and remittance text when the bank gave no reference. A repeat creates nothing.

Matching. ``payment_auto_match`` first looks for invoice numbers (``INV-2026-000123``) and
pro-forma payment references (``EC…``) or numbers (``PF-…``) in the remittance text, after
normalising full-width characters, spaces and case; the payment is spread over the invoices found
in the order they appear, and what is left over is kept as the company's credit. Failing that it
looks for the payer's company (the payer account or name seen on that company's earlier payments,
or its legal name) and exactly one open invoice or pro-forma whose balance equals the payment.
Otherwise the payment waits in the unmatched queue for an operator (``allocation_create``).

Ledger (one journal entry per allocation, keyed by the allocation, so it posts once):

- payment to an invoice: Dr cash / Cr the company's receivable;
- payment kept as credit: Dr cash / Cr the company's credit account;
- company credit used on an invoice: Dr company credit / Cr receivable;
- a reversal (a new allocation with a negative amount) posts the exact opposite entry.

Pro-forma invoices (bank-transfer orders). A pro-forma is not a receivable, so money allocated to
one is *held as the company's credit* (Dr cash / Cr company credit) and counted in the pro-forma's
``paid_amount``. A partial payment therefore simply waits there; the held amount is not
available for other invoices (``company_credit_available`` subtracts it). When the allocations
cover the pro-forma's total, ``proforma_mark_paid(receipt_from_credit=True)`` issues the invoice,
posts the sale and moves the held credit to the receivable (no second cash entry), and funds the
order. Its row lock and status check make that happen once, however many payments, imports or
operators race. If the pro-forma is withdrawn, what was held becomes ordinary company credit.
Allocations to a paid pro-forma cannot be reversed (the order is funded; void its invoice, which
turns the payment into company credit).

Locks, through ``billing.locks`` and in its global order: the payment row, the company's credit
account (FOR NO KEY UPDATE, so postings to it from elsewhere are not blocked), then every invoice
the transaction will touch by id, in one statement (with the company's open invoices when its
credit may be used on them); covered pro-formas are marked paid last, because that takes an
invoice number. Funding their orders is queued to run after commit. Amounts are re-checked after
the locks: a payment is never allocated beyond its amount, an invoice never beyond its total.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import locks
from billing.audit import BillingAction
from billing.models import Account, Allocation, BankStatementImport, Invoice, JournalEntry, Payment
from billing.money import ZERO, format_cny, parse_amount
from billing.services.invoices import InvoiceStateError, invoice_move, proforma_mark_paid
from billing.services.ledger import account_get, journal_post
from portal.models import Company, User
from portal.services.audit import audit_record

PAYABLE_STATUSES = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)

_INVOICE_NUMBER_RE = re.compile(r"(INV|PF)-?(\d{4})-?(\d{6})")
_PAYMENT_REFERENCE_RE = re.compile(r"(?=(EC[0-9A-Z]{10}))")


# --- Normalising --------------------------------------------------------------------------------


def normalise_text(value: str) -> str:
    """Full-width to half-width, no whitespace at all, upper case: how references are compared."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or "")).upper()


def normalise_account(value: str) -> str:
    """A bank account number for comparison: its letters and digits only."""
    return re.sub(r"[^0-9A-Z]", "", normalise_text(value))


def payment_dedupe_key(
    *,
    bank_reference: str,
    received_on: Any,
    amount: Decimal,
    payer_account: str,
    remittance: str,
) -> str:
    reference = normalise_text(bank_reference)
    if reference:
        material = f"ref:{reference}"
    else:
        material = "line:" + "|".join(
            [
                str(received_on),
                str(amount),
                normalise_account(payer_account),
                normalise_text(remittance),
            ]
        )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# --- Small helpers ------------------------------------------------------------------------------


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


def _after_change(company: Company) -> None:
    """Receivables re-evaluate the company's credit hold once its invoices' balances changed."""
    try:
        receivables = importlib.import_module("billing.services.receivables")
    except ModuleNotFoundError:  # pragma: no cover - written beside this module
        return
    refresh = getattr(receivables, "credit_hold_refresh", None)
    if refresh is not None:
        refresh(company=company)


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


# --- Recording ----------------------------------------------------------------------------------


def _validate_payment(
    *, bank_reference: str, payer_name: str, payer_account: str, remittance: str
) -> None:
    errors = {}
    limits = {
        "bank_reference": (bank_reference, 64),
        "payer_name": (payer_name, 200),
        "payer_account": (payer_account, 64),
        "remittance": (remittance, 300),
    }
    for field, (value, limit) in limits.items():
        if len(value) > limit:
            errors[field] = _("%(value)s is longer than %(limit)s characters.") % {
                "value": value[:40] + "…",
                "limit": limit,
            }
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def payment_record(
    *,
    bank_reference: str,
    payer_name: str,
    payer_account: str,
    amount: Decimal | str,
    received_on: Any,
    remittance: str,
    actor: User | None,
    company: Company | None = None,
    source: str = Payment.Source.MANUAL,
    statement_import: BankStatementImport | None = None,
    ip: str | None = None,
    auto_match: bool = True,
) -> tuple[Payment, bool]:
    """Record a payment once (see the module docstring for the dedupe key) and try to match it.
    Returns the payment and whether it was created now."""
    value = parse_amount(amount, field=_("amount"))
    if value <= 0:
        raise ValidationError(
            {"amount": _("The amount must be more than zero, not %(value)s.") % {"value": amount}}
        )
    bank_reference = unicodedata.normalize("NFKC", bank_reference or "").strip()
    payer_name = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", payer_name or "")).strip()
    payer_account = normalise_account(payer_account or "")
    remittance = (remittance or "").strip()
    _validate_payment(
        bank_reference=bank_reference,
        payer_name=payer_name,
        payer_account=payer_account,
        remittance=remittance,
    )
    key = payment_dedupe_key(
        bank_reference=bank_reference,
        received_on=received_on,
        amount=value,
        payer_account=payer_account,
        remittance=remittance,
    )
    payment, created = Payment.objects.get_or_create(
        dedupe_key=key,
        defaults={
            "bank_reference": bank_reference,
            "payer_name": payer_name,
            "payer_account": payer_account,
            "amount": value,
            "received_on": received_on,
            "remittance": remittance,
            "company": company,
            "source": source,
            "statement_import": statement_import,
            "created_by": actor if actor is not None and actor.pk else None,
        },
    )
    if not created:
        if payment.amount != value or payment.received_on != received_on:
            # The same reference with another amount or date is not a repeat: a typo, or two
            # accounts' serial numbers colliding. Refuse rather than drop the money silently.
            raise ValidationError(
                _(
                    "Bank reference %(reference)s is already recorded as %(amount)s received "
                    "on %(date)s; this line says %(new_amount)s on %(new_date)s. Check the "
                    "recorded payment before importing this one."
                )
                % {
                    "reference": payment.bank_reference,
                    "amount": format_cny(payment.amount),
                    "date": payment.received_on,
                    "new_amount": format_cny(value),
                    "new_date": received_on,
                },
                code="reference_conflict",
            )
        return payment, False
    audit_record(
        action=BillingAction.PAYMENT_RECORDED,
        actor=actor,
        company=company,
        obj=payment,
        ip=ip,
        changes={
            "bank_reference": bank_reference,
            "amount": str(value),
            "received_on": str(received_on),
            "payer": payer_name,
            "source": source,
        },
    )
    if auto_match:
        payment_auto_match(payment=payment)
        payment.refresh_from_db()
    return payment, True


# --- Automatic matching -------------------------------------------------------------------------


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
            Company.objects.filter(legal_name__iexact=payment.payer_name).values_list(
                "pk", flat=True
            )
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


# --- Operators' allocation ----------------------------------------------------------------------


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
                % {"number": invoice.number, "amount": amount}
            )
            continue
        merged[invoice.pk] = merged.get(invoice.pk, ZERO) + amount
        wanted[invoice.pk] = invoice
    if to_credit < 0:
        errors.append(
            _("The amount kept as credit cannot be negative (%(amount)s).") % {"amount": to_credit}
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


# --- Company credit -----------------------------------------------------------------------------


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


# --- Reversal -----------------------------------------------------------------------------------


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


__all__ = [
    "InvoiceStateError",
    "allocation_create",
    "allocation_reverse",
    "company_credit_apply",
    "company_credit_available",
    "normalise_text",
    "payable_balance",
    "payment_auto_match",
    "payment_dedupe_key",
    "payment_record",
]
