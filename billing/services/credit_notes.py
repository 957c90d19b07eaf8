"""Credit notes for part of a sale invoice: some of what it sold is taken back (unused cards
refunded to the buyer), and the buyer owes that much less, or gets it back as company credit.

``invoice_void`` (billing.services.invoices) credits a whole invoice; this credits part of it,
as many times as needed, never more in total than the invoice. The credit note is a numbered
document of its own (series CN), born paid, that names the invoice in its note; it is not the
invoice's ``credit_note`` (that one-to-one link is the full void's).

The ledger entry reverses the sale for the credited part, with the face value coming from the
account the caller names (for cards: the voided-card balances the cards were moved to):

    <face account> +face, receivable -(part of the invoice still due), company credit -(rest),
    discounts -(face - price) or fee income +(price - face)

What lands on the receivable also counts as settled on the invoice (its ``paid_amount``), so
that a company's receivable stays the sum of its open invoice balances (the nightly check).

The billing core never imports cards: the caller decides what is credited and why.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import locks
from billing.models import Account, Invoice
from billing.money import ZERO
from billing.services.invoices import (
    InvoiceLineData,
    InvoiceStateError,
    _new_invoice,
    invoice_move,
)
from billing.services.ledger import account_get, journal_post
from billing.services.receivables.holds import credit_hold_refresh
from portal.errors import DomainError
from portal.models import User, register_audit_actions
from portal.services.audit import audit_record


class CreditNoteAction(models.TextChoices):
    PARTIAL_CREDIT = (
        "billing.invoice_credited",
        gettext_lazy("Credited part of an invoice with a credit note"),
    )


register_audit_actions(CreditNoteAction)


def _credited_so_far(invoice: Invoice) -> Decimal:
    """What earlier credit notes of the invoice's order took back."""
    total = Invoice.objects.filter(
        company_id=invoice.company_id,
        kind=Invoice.Kind.CREDIT_NOTE,
        order_number=invoice.order_number,
    ).aggregate(total=Sum("total"))["total"]
    return total or ZERO


@transaction.atomic
def invoice_credit_part(
    *,
    invoice: Invoice,
    lines: list[InvoiceLineData],
    face_account_kind: str,
    reason: str,
    actor: User | None,
    idempotency_key: str,
    ip: str | None = None,
) -> Invoice:
    """Issue a credit note for ``lines`` (a part of ``invoice``) and post it. Returns the credit
    note. Locks the company's accounts, then the invoice, then takes the number (the global
    order of billing.locks); the caller may hold rows above them (an order, cards)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError({"reason": _("Give a reason.")})
    company = invoice.company
    locks.lock_company_accounts(company)
    locked = locks.lock_invoice(invoice.pk)
    if locked.kind != Invoice.Kind.INVOICE or locked.status == Invoice.Status.VOID:
        raise InvoiceStateError(
            _("%(number)s is %(status)s; only an issued sale invoice can be credited.")
            % {"number": locked.number, "status": locked.get_status_display()},
            code="not_creditable",
        )
    face = sum((line.face_value * line.quantity for line in lines), ZERO)
    total = sum((line.amount for line in lines), ZERO)
    if not lines or total <= 0:
        raise DomainError(_("Nothing to credit."), code="nothing_to_credit")
    if _credited_so_far(locked) + total > locked.total:
        raise InvoiceStateError(
            _(
                "Credit notes for %(number)s would come to more than the invoice's %(total)s; "
                "nothing was credited."
            )
            % {"number": locked.number, "total": locked.total},
            code="over_credit",
        )
    to_receivable = min(total, max(locked.total - locked.paid_amount, ZERO))
    if locked.status not in (Invoice.Status.OPEN, Invoice.Status.OVERDUE):
        to_receivable = ZERO
    to_credit = total - to_receivable
    # Every account is fetched (created on first use) before the number is taken: nothing is
    # inserted after the sequence row's lock (billing.locks).
    postings: list[tuple[Account, Decimal]] = [
        (account_get(face_account_kind), face),
        (account_get(Account.Kind.RECEIVABLE, company), -to_receivable),
        (account_get(Account.Kind.COMPANY_CREDIT, company), -to_credit),
    ]
    if face > total:
        postings.append((account_get(Account.Kind.DISCOUNTS), -(face - total)))
    elif total > face:
        postings.append((account_get(Account.Kind.FEE_INCOME), total - face))
    note = _("Credits %(invoice)s: %(reason)s") % {"invoice": locked.number, "reason": reason}
    credit_note = _new_invoice(
        kind=Invoice.Kind.CREDIT_NOTE,
        company=company,
        order_number=locked.order_number,
        lines=lines,
        due_date=None,
        actor=actor,
        issue_date=timezone.localdate(),
        note=note[:300],
        status=Invoice.Status.PAID,
        paid_amount=total,
    )
    journal_post(
        kind="credit_note",
        idempotency_key=idempotency_key,
        postings=[(account, amount) for account, amount in postings if amount],
        company=company,
        reference=credit_note.number,
        memo=f"credits {locked.number}",
    )
    if to_receivable:
        paid = locked.paid_amount + to_receivable
        invoice_move(
            locked, Invoice.Status.PAID if paid == locked.total else locked.status, paid_amount=paid
        )
    audit_record(
        action=CreditNoteAction.PARTIAL_CREDIT,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={
            "credit_note": credit_note.number,
            "total": str(total),
            "face": str(face),
            "to_receivable": str(to_receivable),
            "to_company_credit": str(to_credit),
            "reason": reason,
        },
    )
    if to_receivable:
        credit_hold_refresh(company=company)
    return credit_note
