"""Credit terms: the line, what is available, reservations, and charging an order to it.

Availability is only decided under the credit line's row lock, inside the transaction that
writes the invoice or reservation: two approvals can never both take the last of the line.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import locks
from billing.audit import BillingAction
from billing.dues import OPEN_STATUSES, open_sale_invoices, past_grace_invoices
from billing.models import CreditHold, CreditLine, CreditLineProposal, CreditReservation, Invoice
from billing.money import MAX_AMOUNT, ZERO, format_cny, quantize
from billing.services.invoices import InvoiceLineData, invoice_issue
from portal.errors import DomainError
from portal.models import Company, User
from portal.services.audit import audit_record


class CreditRefused(DomainError):
    """The order cannot go on credit; the message names the rule and the figures."""

    default_code = "credit_refused"

    def __init__(self, message: str, *, code: str, available: Decimal | None = None) -> None:
        super().__init__(message, code=code)
        self.available = available
        self.params = {"available": available}


@dataclass(frozen=True)
class CreditPosition:
    limit: Decimal
    unpaid: Decimal
    reserved: Decimal
    available: Decimal
    status: str
    net_days: int
    grace_days: int
    past_due_invoice: str | None  # number of an invoice past due + grace, if any
    next_due: datetime.date | None


def _today() -> datetime.date:
    return timezone.localdate()


def credit_position(
    company: Company,
    *,
    line: CreditLine | None = None,
    exclude_reference: str | None = None,
    today: datetime.date | None = None,
) -> CreditPosition | None:
    """The company's credit right now, or None without a credit line."""
    if line is None:
        line = CreditLine.objects.filter(company=company).first()
        if line is None:
            return None
    today = today or _today()
    open_invoices = open_sale_invoices(Invoice.objects.filter(company=company))
    unpaid = open_invoices.aggregate(total=Sum(F("total") - F("paid_amount")))["total"] or ZERO
    reservations = CreditReservation.objects.filter(company=company, released_at__isnull=True)
    if exclude_reference:
        reservations = reservations.exclude(reference=exclude_reference)
    reserved = reservations.aggregate(total=Sum("amount"))["total"] or ZERO
    past_due = (
        past_grace_invoices(open_invoices, today=today, grace_days=line.grace_days)
        .order_by("due_date")
        .values_list("number", flat=True)
    ).first()
    next_due = open_invoices.order_by("due_date").values_list("due_date", flat=True).first()
    return CreditPosition(
        limit=line.limit,
        unpaid=unpaid,
        reserved=reserved,
        available=max(line.limit - unpaid - reserved, ZERO),
        status=line.status,
        net_days=line.net_days,
        grace_days=line.grace_days,
        past_due_invoice=past_due,
        next_due=next_due,
    )


def credit_line_refusal(company: Company, position: CreditPosition | None) -> CreditRefused | None:
    """Why the company cannot order on credit at all (no credit line, or a suspended one), or
    None when it has a usable line. The order form offers credit only without a refusal here;
    ``credit_check`` raises it."""
    if position is None:
        return CreditRefused(
            _("%(company)s has no credit line; pay by bank transfer or ask us for credit terms.")
            % {"company": company.legal_name},
            code="no_credit_line",
        )
    if position.status != CreditLine.Status.ACTIVE:
        return CreditRefused(
            _("The credit line of %(company)s is suspended; pay by bank transfer.")
            % {"company": company.legal_name},
            code="credit_suspended",
        )
    return None


def credit_check(
    company: Company,
    amount: Decimal,
    *,
    line: CreditLine | None = None,
    exclude_reference: str | None = None,
) -> CreditPosition:
    """Raise CreditRefused unless the company can put ``amount`` on credit now."""
    position = credit_position(company, line=line, exclude_reference=exclude_reference)
    refusal = credit_line_refusal(company, position)
    if refusal is not None:
        raise refusal
    assert position is not None
    hold = (
        CreditHold.objects.filter(
            company=company, lifted_at__isnull=True, invoice__status__in=OPEN_STATUSES
        )
        .select_related("invoice")
        .first()
    )
    if hold is not None:
        raise CreditRefused(
            _(
                "New credit orders of %(company)s are on hold since %(date)s: invoice %(number)s "
                "is past its due date and grace period. Pay it (or order by bank transfer); the "
                "hold is lifted as soon as the payment is allocated."
            )
            % {
                "company": company.legal_name,
                "date": timezone.localtime(hold.placed_at).date().isoformat(),
                "number": hold.invoice.number,
            },
            code="credit_hold",
            available=position.available,
        )
    if position.past_due_invoice:
        raise CreditRefused(
            _(
                "Invoice %(number)s is past its due date and grace period; new credit orders "
                "are on hold until it is paid."
            )
            % {"number": position.past_due_invoice},
            code="past_due",
            available=position.available,
        )
    if amount > position.available:
        raise CreditRefused(
            _("Not enough credit: this order needs %(amount)s, available credit is %(available)s.")
            % {"amount": format_cny(amount), "available": format_cny(position.available)},
            code="insufficient_credit",
            available=position.available,
        )
    return position


@transaction.atomic
def credit_reserve(*, company: Company, reference: str, amount: Decimal) -> CreditReservation:
    """Hold credit for an approved order that waits for another approval step."""
    line = locks.lock_credit_line(company)
    credit_check(company, amount, line=line, exclude_reference=reference)
    reservation, _created = CreditReservation.objects.get_or_create(
        company=company, reference=reference, released_at__isnull=True, defaults={"amount": amount}
    )
    return reservation


def credit_release(*, company: Company, reference: str) -> None:
    CreditReservation.objects.filter(
        company=company, reference=reference, released_at__isnull=True
    ).update(released_at=timezone.now())


@transaction.atomic
def credit_charge(
    *,
    company: Company,
    order_number: str,
    lines: list[InvoiceLineData],
    actor: User | None,
    ip: str | None = None,
) -> Invoice:
    """Put an order on credit: lock the line, re-check availability, issue the invoice."""
    amount = sum((line.amount for line in lines), ZERO)
    credit_line = locks.lock_credit_line(company)
    credit_check(company, amount, line=credit_line, exclude_reference=order_number)
    assert credit_line is not None  # credit_check refuses a company without one
    credit_release(company=company, reference=order_number)
    return invoice_issue(
        company=company,
        order_number=order_number,
        lines=lines,
        net_days=credit_line.net_days,
        actor=actor,
        ip=ip,
    )


def credit_line_validate(*, limit: Decimal, net_days: int, grace_days: int, status: str) -> None:
    """The rules of a credit line (the admin form shows the same messages before saving)."""
    errors = {}
    if limit < 0:
        errors["limit"] = _("The credit limit cannot be negative.")
    elif limit > MAX_AMOUNT or limit != quantize(limit):
        errors["limit"] = _("Give the credit limit in yuan with at most 2 decimal places.")
    if not 1 <= net_days <= 180:
        errors["net_days"] = _("Net days must be between 1 and 180.")
    if not 0 <= grace_days <= 90:
        errors["grace_days"] = _("Grace days must be between 0 and 90.")
    if status not in CreditLine.Status.values:
        errors["status"] = _("Choose active or suspended.")
    if errors:
        raise ValidationError(errors)


class SecondOperatorRequired(DomainError):
    """The line is set or raised above ``KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE``: it takes effect
    only when another operator approves it (``billing.services.credit_proposals``)."""

    default_code = "second_operator_required"


def dual_control_threshold() -> Decimal:
    return Decimal(settings.KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE)


def credit_line_needs_second_operator(*, limit: Decimal, before: CreditLine | None) -> bool:
    """Whether setting ``limit`` (on ``before``, the line now, or a new line) needs a second
    operator: a new line above the threshold, or a raise that ends above it."""
    return limit > dual_control_threshold() and (before is None or limit > before.limit)


@transaction.atomic
def credit_line_set(
    *,
    company: Company,
    limit: Decimal,
    net_days: int,
    grace_days: int,
    status: str,
    actor: User | None,
    ip: str | None = None,
    approval: CreditLineProposal | None = None,
) -> CreditLine:
    """Set the company's credit line. An operator (``actor``) setting or raising it above the
    dual-control amount needs ``approval``: another operator's approval of a proposal with these
    terms (``credit_line_proposal_approve`` passes it); without one, ``SecondOperatorRequired``.
    ``actor=None`` is the system (the demo seed), never an operator's form."""
    credit_line_validate(limit=limit, net_days=net_days, grace_days=grace_days, status=status)
    before = locks.lock_credit_line(company)
    if approval is not None:
        if approval.company_id != company.pk or approval.limit != limit:
            raise ValueError("the approved proposal is for another company or limit")
        if actor is None or approval.requested_by_id == actor.pk:
            raise DomainError(
                _("Another operator must approve a credit line you proposed."),
                code="same_operator",
            )
    elif actor is not None and credit_line_needs_second_operator(limit=limit, before=before):
        raise SecondOperatorRequired(
            _(
                "A credit line of %(limit)s for %(company)s is above %(threshold)s: a second "
                "operator must approve it before it takes effect."
            )
            % {
                "limit": format_cny(limit),
                "company": company.legal_name,
                "threshold": format_cny(dual_control_threshold()),
            }
        )
    fields = {"limit": limit, "net_days": net_days, "grace_days": grace_days, "status": status}
    changes: dict[str, object] = {
        name: [str(getattr(before, name)) if before else None, str(value)]
        for name, value in fields.items()
        if before is None or getattr(before, name) != value
    }
    line, _created = CreditLine.objects.update_or_create(company=company, defaults=fields)
    if changes:
        if approval is not None:
            changes["proposal"] = str(approval.public_id)
            changes["proposed_by"] = approval.requested_by.email
        audit_record(
            action=BillingAction.CREDIT_LINE_SET,
            actor=actor,
            company=company,
            obj=line,
            ip=ip,
            changes=changes,
        )
    return line
