"""Invoices, pro-forma invoices and credit notes, with their ledger entries.

An invoice's status moves only through ``invoice_move``, checked against ``TRANSITIONS`` (per
kind): nothing else writes ``Invoice.status``. Rows are locked through ``billing.locks``, in its
global order; the invoice number (the sequence row) is taken last.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import locks
from billing.audit import BillingAction
from billing.follow_ups import proforma_paid_follow_up
from billing.models import Account, Invoice, InvoiceLine, InvoiceSequence
from billing.money import ZERO
from billing.services.ledger import account_get, journal_post
from portal.errors import StateConflict
from portal.models import Company, User
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit

# Crockford base32 without look-alikes: a payment reference people type into a bank form.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class InvoiceLineData:
    """One line to issue. With a ``code`` (``billing.line_text``), the line stores the code and
    ``params`` and is read in the reader's language; ``description`` is then left empty.
    Without one, ``description`` is the text shown as it is."""

    description: str
    face_value: Decimal
    quantity: int
    unit_price: Decimal
    amount: Decimal
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, line: InvoiceLine) -> InvoiceLineData:
        """The same line again (a pro-forma's lines on its invoice, an invoice's on its credit
        note): the same code, facts and text."""
        return cls(
            description=line.description,
            face_value=line.face_value,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            code=line.description_code,
            params=dict(line.description_params),
        )


class InvoiceStateError(StateConflict):
    """The invoice's status (read under its row lock) does not allow the action."""

    default_code = "invoice_state"


_S = Invoice.Status
_K = Invoice.Kind

# Allowed moves per kind. A sale invoice goes back from paid to open or overdue when an
# allocation is reversed; a paid pro-forma is final (its invoice is voided instead); a credit
# note is born paid and never moves.
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    _K.INVOICE: {
        _S.OPEN: frozenset({_S.OVERDUE, _S.PAID, _S.VOID}),
        _S.OVERDUE: frozenset({_S.OPEN, _S.PAID, _S.VOID}),
        _S.PAID: frozenset({_S.OPEN, _S.OVERDUE, _S.VOID}),
        _S.VOID: frozenset(),
    },
    _K.PROFORMA: {
        _S.OPEN: frozenset({_S.PAID, _S.VOID}),
        _S.OVERDUE: frozenset({_S.PAID, _S.VOID}),
        _S.PAID: frozenset(),
        _S.VOID: frozenset(),
    },
    _K.CREDIT_NOTE: {status: frozenset() for status in _S.values},
}


def invoice_move(invoice: Invoice, target: str, **fields: object) -> None:
    """The one way to change an invoice's status: under the invoice's row lock, checked against
    ``TRANSITIONS``. Staying in a state that can still move (a partial payment keeps an invoice
    open) only writes ``fields``."""
    allowed = TRANSITIONS[invoice.kind][invoice.status]
    if target not in allowed and not (target == invoice.status and allowed):
        raise InvoiceStateError(
            _("%(number)s is %(status)s; it cannot become %(target)s.")
            % {
                "number": invoice.number,
                "status": invoice.get_status_display(),
                "target": _S(target).label,
            }
        )
    moved = target != invoice.status
    Invoice.objects.filter(pk=invoice.pk).update(status=target, **fields)
    invoice.status = target
    for name, value in fields.items():
        setattr(invoice, name, value)
    if moved and target in _EVENTS:
        invoice_event(invoice, _EVENTS[target])


_EVENTS: dict[str, str] = {
    _S.PAID: EventType.INVOICE_PAID,
    _S.OVERDUE: EventType.INVOICE_OVERDUE,
}


def invoice_event(invoice: Invoice, event_type: str) -> None:
    """Record a webhook event about the invoice, in the caller's transaction."""
    emit(
        invoice.company_id,
        event_type,
        invoice,
        {
            "number": invoice.number,
            "kind": invoice.kind,
            "order": invoice.order_number,
            "total": str(invoice.total),
            "paid_amount": str(invoice.paid_amount),
            "issue_date": invoice.issue_date,
            "due_date": invoice.due_date,
        },
    )


def invoice_next_number(*, series: str, year: int) -> int:
    """The next number of a series. The upsert holds the sequence row's lock until commit, and a
    rollback gives the number back: gapless and unique under any concurrency. Being the one row
    every issuer of the series shares, it is the last lock of a transaction (billing.locks)."""
    locks.note_invoice_number(series=series, year=year)
    table = InvoiceSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (series, year, last) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (series, year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [series, year],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _new_invoice(
    *,
    kind: str,
    company: Company,
    order_number: str,
    lines: list[InvoiceLineData],
    due_date: datetime.date | None,
    actor: User | None,
    issue_date: datetime.date,
    **extra: object,
) -> Invoice:
    series = Invoice.SERIES[Invoice.Kind(kind)]
    sequence = invoice_next_number(series=series, year=issue_date.year)
    invoice = Invoice.objects.create(
        kind=kind,
        number=f"{series}-{issue_date.year}-{sequence:06d}",
        year=issue_date.year,
        sequence=sequence,
        company=company,
        order_number=order_number,
        buyer_name=company.legal_name,
        buyer_credit_code=company.credit_code,
        issue_date=issue_date,
        due_date=due_date,
        face_total=sum((line.face_value * line.quantity for line in lines), ZERO),
        total=sum((line.amount for line in lines), ZERO),
        created_by=actor if actor is not None and actor.pk else None,
        **extra,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=position,
            description="" if line.code else line.description,
            description_code=line.code,
            description_params=line.params,
            face_value=line.face_value,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for position, line in enumerate(lines, start=1)
    )
    invoice_event(invoice, EventType.INVOICE_ISSUED)
    return invoice


def _sale_postings(invoice: Invoice) -> list[tuple[Account, Decimal]]:
    """Receivable against card liability (not yet issued: the cards do not exist yet); the
    difference is a discount given or a fee earned."""
    postings = [
        (account_get(Account.Kind.RECEIVABLE, invoice.company), invoice.total),
        (account_get(Account.Kind.CARDS_TO_ISSUE), -invoice.face_total),
    ]
    difference = invoice.face_total - invoice.total
    if difference > 0:
        postings.append((account_get(Account.Kind.DISCOUNTS), difference))
    elif difference < 0:
        postings.append((account_get(Account.Kind.FEE_INCOME), difference))
    return postings


@transaction.atomic
def invoice_issue(
    *,
    company: Company,
    order_number: str,
    lines: list[InvoiceLineData],
    net_days: int,
    actor: User | None,
    ip: str | None = None,
    apply_credit: bool = True,
) -> Invoice:
    """Issue a numbered invoice (non-taxable prepaid card sale) and post it to the ledger.

    The company's credit balance (an earlier overpayment, a voided invoice) is then applied to
    it, unless the caller pays it otherwise at once (``apply_credit=False``). The company's
    accounts are locked before the number is taken, never after (billing.locks)."""
    if apply_credit:
        locks.lock_company_accounts(company)
    today = timezone.localdate()
    invoice = _new_invoice(
        kind=Invoice.Kind.INVOICE,
        company=company,
        order_number=order_number,
        lines=lines,
        due_date=today + datetime.timedelta(days=net_days),
        actor=actor,
        issue_date=today,
    )
    journal_post(
        kind="invoice_issued",
        idempotency_key=f"invoice:{invoice.number}",
        postings=_sale_postings(invoice),
        company=company,
        reference=invoice.number,
        memo=f"order {order_number}",
    )
    audit_record(
        action=BillingAction.INVOICE_ISSUED,
        actor=actor,
        company=company,
        obj=invoice,
        ip=ip,
        changes={"number": invoice.number, "order": order_number, "total": str(invoice.total)},
    )
    if apply_credit:
        from billing.services.payments import company_credit_apply

        if company_credit_apply(company=company, new_invoice=invoice, actor=actor):
            invoice.refresh_from_db()
    return invoice


def _payment_reference() -> str:
    return "EC" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))


@transaction.atomic
def proforma_issue(
    *,
    company: Company,
    order_number: str,
    lines: list[InvoiceLineData],
    actor: User | None,
    ip: str | None = None,
) -> Invoice:
    """A pro-forma invoice: what to transfer, with a unique payment reference. No ledger entry
    until the money arrives."""
    today = timezone.localdate()
    invoice = _new_invoice(
        kind=Invoice.Kind.PROFORMA,
        company=company,
        order_number=order_number,
        lines=lines,
        due_date=today + datetime.timedelta(days=settings.PROFORMA_PAY_DAYS),
        actor=actor,
        issue_date=today,
        payment_reference=_payment_reference(),
    )
    audit_record(
        action=BillingAction.PROFORMA_ISSUED,
        actor=actor,
        company=company,
        obj=invoice,
        ip=ip,
        changes={
            "number": invoice.number,
            "order": order_number,
            "total": str(invoice.total),
            "payment_reference": invoice.payment_reference,
        },
    )
    return invoice


@transaction.atomic
def proforma_mark_paid(
    *,
    proforma: Invoice,
    actor: User | None,
    ip: str | None = None,
    receipt_from_credit: bool = False,
) -> Invoice:
    """Record that the transfer for a pro-forma invoice arrived: issue the invoice, post the sale
    and the receipt, and queue the follow-ups (the order is funded after this commits, in a
    transaction of its own). Exactly once: a second call returns the invoice issued by the first.

    ``receipt_from_credit``: the money already came in through payment allocations, which held
    it as the company's credit (billing.services.payments); the receipt then moves it from that
    credit to the receivable instead of posting cash a second time."""
    locks.lock_company_accounts(proforma.company)
    locked = locks.lock_invoice(proforma.pk)
    if locked.kind != Invoice.Kind.PROFORMA:
        raise InvoiceStateError(
            _("Only a pro-forma invoice can be paid this way."), code="not_proforma"
        )
    if locked.status == Invoice.Status.PAID:
        # Issued by the first call, in the same transaction that marked the pro-forma paid.
        return Invoice.objects.filter(
            company=locked.company, order_number=locked.order_number, kind=Invoice.Kind.INVOICE
        ).latest("created_at", "id")
    if locked.status == Invoice.Status.VOID:
        raise InvoiceStateError(
            _("Pro-forma invoice %(number)s was withdrawn; the payment needs a refund.")
            % {"number": locked.number},
            code="proforma_void",
        )
    lines = [InvoiceLineData.of(line) for line in locked.lines.all()]
    invoice = invoice_issue(
        company=locked.company,
        order_number=locked.order_number,
        lines=lines,
        net_days=0,
        actor=actor,
        ip=ip,
        apply_credit=False,
    )
    paid_from = (
        account_get(Account.Kind.COMPANY_CREDIT, locked.company)
        if receipt_from_credit
        else account_get(Account.Kind.CASH)
    )
    journal_post(
        kind="payment_received",
        idempotency_key=f"proforma_paid:{locked.number}",
        postings=[
            (paid_from, invoice.total),
            (account_get(Account.Kind.RECEIVABLE, locked.company), -invoice.total),
        ],
        company=locked.company,
        reference=locked.payment_reference or locked.number,
        memo=f"transfer for {locked.number}",
    )
    invoice_move(invoice, Invoice.Status.PAID, paid_amount=invoice.total)
    invoice_move(locked, Invoice.Status.PAID, paid_amount=locked.total)
    invoice.refresh_from_db()
    audit_record(
        action=BillingAction.PROFORMA_PAID,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"invoice": invoice.number, "amount": str(locked.total)},
    )
    proforma_paid_follow_up(proforma_id=locked.pk, invoice_id=invoice.pk, actor=actor)
    return invoice


@transaction.atomic
def invoice_void(
    *, invoice: Invoice, reason: str, actor: User | None, ip: str | None = None
) -> Invoice | None:
    """Void an invoice. A sale invoice is voided by a credit note that reverses its ledger entry
    (what was already paid becomes the company's credit); a pro-forma one is simply withdrawn.
    Returns the credit note, if one was issued."""
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason.")})
    locks.lock_company_accounts(invoice.company)
    locked = locks.lock_invoice(invoice.pk)
    if locked.status == Invoice.Status.VOID:
        return getattr(locked, "credit_note", None)
    if locked.kind == Invoice.Kind.PROFORMA:
        if locked.status == Invoice.Status.PAID:
            raise InvoiceStateError(
                _("Pro-forma invoice %(number)s is paid; void its invoice instead.")
                % {"number": locked.number},
                code="proforma_paid",
            )
        invoice_move(locked, Invoice.Status.VOID, note=reason[:300])
        audit_record(
            action=BillingAction.PROFORMA_VOIDED,
            actor=actor,
            company=locked.company,
            obj=locked,
            ip=ip,
            changes={"reason": reason},
        )
        return None
    if locked.kind != Invoice.Kind.INVOICE:
        raise InvoiceStateError(_("A credit note cannot be voided."), code="credit_note")
    today = timezone.localdate()
    lines = [InvoiceLineData.of(line) for line in locked.lines.all()]
    credit_note = _new_invoice(
        kind=Invoice.Kind.CREDIT_NOTE,
        company=locked.company,
        order_number=locked.order_number,
        lines=lines,
        due_date=None,
        actor=actor,
        issue_date=today,
        credited_invoice=locked,
        note=reason[:300],
        status=Invoice.Status.PAID,
        paid_amount=locked.total,
    )
    reversal = [(account, -amount) for account, amount in _sale_postings(locked)]
    if locked.paid_amount > 0:
        reversal += [
            (account_get(Account.Kind.RECEIVABLE, locked.company), locked.paid_amount),
            (account_get(Account.Kind.COMPANY_CREDIT, locked.company), -locked.paid_amount),
        ]
    journal_post(
        kind="credit_note",
        idempotency_key=f"credit_note:{credit_note.number}",
        postings=reversal,
        company=locked.company,
        reference=credit_note.number,
        memo=f"voids {locked.number}",
    )
    invoice_move(locked, Invoice.Status.VOID)
    audit_record(
        action=BillingAction.INVOICE_VOIDED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"credit_note": credit_note.number, "reason": reason},
    )
    return credit_note
